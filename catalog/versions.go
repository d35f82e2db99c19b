package catalog

import (
	"sort"
	"strings"
	"time"

	"github.com/dpc-project/dpc/manifests"
)

// merged is one service as the queries report it: the union of its live
// instances' manifests.
type merged struct {
	name string
	// newest is the manifest of the newest version (see byNewest).
	newest *manifests.Manifest
	// versions are the distinct live versions, newest first.
	versions  []string
	functions []mergedFunction
	instances []instance
	// asleep is when the service, which has no instance, went asleep;
	// zero for a live service.
	asleep time.Time
}

// mergedFunction is one function of a service: the newest version's entry.
type mergedFunction struct {
	entry     manifests.Function
	version   string   // of the entry
	versions  []string // every live version that has the function, newest first
	instances int      // live instances, of any version, that have it
}

// merge combines the manifests of a service's instances.
func merge(v serviceView) merged {
	if v.asleep != nil {
		// Listed from its manifest, with no instance.
		out := merge(serviceView{name: v.name, instances: []instance{{manifest: v.asleep.manifest}}})
		out.instances, out.asleep = nil, v.asleep.asleep
		for i := range out.functions {
			out.functions[i].instances = 0
		}
		return out
	}
	ins := v.instances
	// The manifests, newest first; for one version, the most recently
	// arrived instance's first.
	order := make([]*instance, len(ins))
	for i := range ins {
		order[i] = &ins[i]
	}
	sort.SliceStable(order, func(a, b int) bool {
		if c := compareVersions(order[a].manifest.Version, order[b].manifest.Version); c != 0 {
			return c > 0
		}
		if !order[a].since.Equal(order[b].since) {
			return order[a].since.After(order[b].since)
		}
		return order[a].id < order[b].id
	})
	out := merged{name: v.name, instances: ins}
	if len(order) == 0 {
		return out
	}
	out.newest = order[0].manifest
	byName := map[string]int{}
	for _, in := range order {
		m := in.manifest
		if len(out.versions) == 0 || out.versions[len(out.versions)-1] != m.Version {
			out.versions = append(out.versions, m.Version)
		}
		for _, f := range m.Functions {
			i, ok := byName[f.Name]
			if !ok {
				i = len(out.functions)
				byName[f.Name] = i
				out.functions = append(out.functions, mergedFunction{entry: f, version: m.Version})
			}
			mf := &out.functions[i]
			mf.instances++
			if len(mf.versions) == 0 || mf.versions[len(mf.versions)-1] != m.Version {
				mf.versions = append(mf.versions, m.Version)
			}
		}
	}
	return out
}

// compareVersions orders versions by SemVer precedence: -1, 0 or 1 as a
// is older than, as old as, or newer than b. Build metadata is ignored.
// Something that is not SemVer is older than any SemVer version, and two
// such compare as text.
func compareVersions(a, b string) int {
	va, okA := parseVersion(a)
	vb, okB := parseVersion(b)
	switch {
	case !okA && !okB:
		return strings.Compare(a, b)
	case !okA:
		return -1
	case !okB:
		return 1
	}
	for i := range 3 {
		if c := compareNumeric(va.core[i], vb.core[i]); c != 0 {
			return c
		}
	}
	// A pre-release is older than its release.
	switch {
	case len(va.pre) == 0 && len(vb.pre) == 0:
		return 0
	case len(va.pre) == 0:
		return 1
	case len(vb.pre) == 0:
		return -1
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		x, y := va.pre[i], vb.pre[i]
		nx, ny := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case nx && ny:
			c = compareNumeric(x, y)
		case nx:
			c = -1 // numeric identifiers are older than alphanumeric ones
		case ny:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case len(va.pre) < len(vb.pre):
		return -1
	case len(va.pre) > len(vb.pre):
		return 1
	}
	return 0
}

type version struct {
	core [3]string
	pre  []string
}

func parseVersion(s string) (version, bool) {
	var v version
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.pre = strings.Split(s[i+1:], ".")
		s = s[:i]
		for _, p := range v.pre {
			if p == "" {
				return v, false
			}
		}
	}
	core := strings.Split(s, ".")
	if len(core) != 3 {
		return v, false
	}
	for i, c := range core {
		if !isNumeric(c) {
			return v, false
		}
		v.core[i] = strings.TrimLeft(c, "0")
	}
	return v, true
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares digit strings of any length without leading
// zeros.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
