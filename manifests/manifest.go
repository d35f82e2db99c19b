package manifests

import (
	"sort"
	"time"
)

// Manifest is one service's description.
type Manifest struct {
	Name        string     `yaml:"name" json:"name"`
	Version     string     `yaml:"version" json:"version"`
	Description string     `yaml:"description" json:"description"`
	Functions   []Function `yaml:"functions" json:"functions"`
	// Command starts an instance of the service (program first), for
	// agents that have no command of their own for it.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Scaling is how a provisioner sizes the service.
	Scaling *Scaling `yaml:"scaling,omitempty" json:"scaling,omitempty"`
}

// Function is one function of a service.
type Function struct {
	Name        string   `yaml:"funct_name" json:"funct_name"`
	Args        []Arg    `yaml:"args_list" json:"args_list"`
	ReturnType  Type     `yaml:"return_type" json:"return_type"`
	Apps        []string `yaml:"app_list" json:"app_list"`
	Description string   `yaml:"description" json:"description"`
	// Idempotent marks the function safe to call again after a timeout.
	Idempotent bool `yaml:"idempotent,omitempty" json:"idempotent,omitempty"`
	// Timeout bounds a call; 0 leaves the caller's default.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Cacheable, when set, lets callers reuse a result for TTL.
	Cacheable *Cache `yaml:"cacheable,omitempty" json:"cacheable,omitempty"`
	// Exec, when set, is the command that implements the function,
	// program first; "{name}" in an element stands for argument name
	// (package execfn runs it). It is how this host serves the function,
	// not part of what callers see, so it stays out of the JSON that
	// $SRV metadata and the catalog carry — and with it this host's paths.
	Exec []string `yaml:"exec,omitempty" json:"-"`
}

// Arg is one argument of a function.
type Arg struct {
	Name        string `yaml:"arg_name" json:"arg_name"`
	Type        Type   `yaml:"arg_type" json:"arg_type"`
	Description string `yaml:"arg_description" json:"arg_description"`
}

// Cache says how long a result may be reused.
type Cache struct {
	TTL Duration `yaml:"ttl" json:"ttl"`
}

// Duration is a time.Duration written as "2s", "500ms" in YAML and JSON.
type Duration time.Duration

// Function returns the function called name, or nil.
func (m *Manifest) Function(name string) *Function {
	for i := range m.Functions {
		if m.Functions[i].Name == name {
			return &m.Functions[i]
		}
	}
	return nil
}

// Apps returns the applications named in the functions' app_lists,
// sorted, each once. Functions with an empty app_list (available to
// every application) add none.
func (m *Manifest) Apps() []string {
	seen := map[string]bool{}
	var apps []string
	for _, f := range m.Functions {
		for _, a := range f.Apps {
			if !seen[a] {
				seen[a] = true
				apps = append(apps, a)
			}
		}
	}
	sort.Strings(apps)
	return apps
}

// AvailableTo reports whether application app may use f: an empty
// app_list means every application may.
func (f *Function) AvailableTo(app string) bool {
	if len(f.Apps) == 0 {
		return true
	}
	for _, a := range f.Apps {
		if a == app {
			return true
		}
	}
	return false
}
