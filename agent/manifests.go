package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dpc-project/dpc/manifests"
	"gopkg.in/yaml.v3"
)

// LoadManifests reads the manifests in dirs — the files named *.yml or
// *.yaml directly in each — for Config.Manifests: the command of each
// service whose manifest has one. Installing a manifest there is how the
// host's owner approves its command; manifests without a command are
// read (and must be valid) but add nothing. Every problem is reported at
// once: a manifest the strict parser refuses (file:line: field: message),
// a service described twice, a directory that is not one, and a file or
// directory anyone may write to (anyone could then choose what the agent
// runs). Whether each command's program is allowed is Config.Validate's
// business.
func LoadManifests(dirs ...string) (map[string]ManifestCommand, error) {
	out := map[string]ManifestCommand{}
	var errs []error
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("manifests: %w", err))
			continue
		}
		if !st.IsDir() {
			errs = append(errs, fmt.Errorf("manifests: %s is not a directory", dir))
			continue
		}
		if st.Mode().Perm()&0o002 != 0 {
			errs = append(errs, fmt.Errorf("manifests: %s: anyone may write to it; a directory of approved manifests must not be (chmod o-w)", dir))
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("manifests: %w", err))
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
				continue
			}
			path := filepath.Join(dir, name)
			st, err := os.Stat(path) // follows a symbolic link
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("manifests: %w", err))
				continue
			case !st.Mode().IsRegular():
				continue
			case st.Mode().Perm()&0o002 != 0:
				errs = append(errs, fmt.Errorf("%s: anyone may write to it; an approved manifest must not be (chmod o-w)", path))
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("manifests: %w", err))
				continue
			}
			m, err := manifests.Parse(path, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(m.Command) == 0 {
				continue
			}
			if prev, ok := out[m.Name]; ok {
				errs = append(errs, fmt.Errorf("%s: service %s is already described by %s; install one manifest per service", path, m.Name, prev.File))
				continue
			}
			out[m.Name] = ManifestCommand{Command: slices.Clone(m.Command), File: path, Line: programLine(data)}
		}
	}
	return out, errors.Join(errs...)
}

// programLine is the line of a manifest's command[0], for messages; 0 if
// not found.
func programLine(data []byte) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "command" {
			v := root.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if len(v.Content) > 0 {
				return v.Content[0].Line
			}
			return v.Line
		}
	}
	return 0
}
