package manifests

import (
	"embed"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/dpc-project/dpc/omq"
)

// builtinFS holds the manifests of the hub's built-in functions and of the
// example services; each file is named after its service.
//
//go:embed *.yml
var builtinFS embed.FS

// BuiltinNames returns the names of the embedded manifests, sorted: "hub",
// "textutil", "tst", "work".
func BuiltinNames() []string {
	entries, _ := fs.Glob(builtinFS, "*.yml")
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = strings.TrimSuffix(e, ".yml")
	}
	sort.Strings(names)
	return names
}

// Builtin parses the embedded manifest of the service called name. Each
// call returns a new *Manifest that the caller may change. An unknown name
// is an error matching fs.ErrNotExist.
func Builtin(name string) (*Manifest, error) {
	file := name + ".yml"
	data, err := builtinFS.ReadFile(file)
	if err != nil || !omq.ValidName(name) {
		return nil, &builtinError{name}
	}
	return Parse("manifests/"+file, data)
}

type builtinError struct{ name string }

func (e *builtinError) Error() string {
	return "manifests: no built-in manifest " + strconv.Quote(e.name) + " (there are: " + strings.Join(BuiltinNames(), ", ") + ")"
}

func (e *builtinError) Is(target error) bool { return target == fs.ErrNotExist }
