package manifests

import (
	"github.com/dpc-project/dpc/internal/suggest"
	"regexp"
	"sort"
	"strings"
)

// Suggestions for misspelt field names and types, so that a message says
// what to write instead.

// fieldSynonyms maps names people write for a field to the fields they
// may mean; the first one valid where the name was found is suggested.
var fieldSynonyms = map[string][]string{
	"service": {"name"}, "service_name": {"name"},
	"funcs": {"functions"}, "functs": {"functions"}, "functionalities": {"functions"}, "methods": {"functions"},
	"name":          {"funct_name", "arg_name"},
	"function_name": {"funct_name"}, "func_name": {"funct_name"}, "funct": {"funct_name"}, "function": {"funct_name"},
	"args": {"args_list"}, "arguments": {"args_list"}, "params": {"args_list"}, "parameters": {"args_list"}, "arg_list": {"args_list"},
	"returns": {"return_type"}, "return": {"return_type"}, "result": {"return_type"}, "result_type": {"return_type"}, "ret_type": {"return_type"},
	"type": {"arg_type", "return_type"},
	"apps": {"app_list"}, "applications": {"app_list"}, "apps_list": {"app_list"},
	"desc": {"description", "arg_description"}, "doc": {"description", "arg_description"},
	"help": {"description", "arg_description"}, "description": {"arg_description"},
	"arg_desc": {"arg_description"},
	"cache":    {"cacheable"}, "cached": {"cacheable"}, "cachable": {"cacheable"},
	"retry": {"idempotent"}, "retryable": {"idempotent"},
	"deadline": {"timeout"},
	"command":  {"exec"}, "cmd": {"exec"}, "run": {"exec"}, "argv": {"exec"}, "execute": {"exec"}, "shell": {"exec"},
}

// fieldHome says where a field that is valid elsewhere belongs.
var fieldHome = map[string]string{
	"funct_name": "in an entry of functions", "args_list": "in an entry of functions",
	"return_type": "in an entry of functions", "app_list": "in an entry of functions",
	"idempotent": "in an entry of functions", "timeout": "in an entry of functions",
	"cacheable": "in an entry of functions",
	"exec":      "in an entry of functions",
	"arg_name":  "in an entry of args_list", "arg_type": "in an entry of args_list",
	"arg_description": "in an entry of args_list",
	"ttl":             "under cacheable, like cacheable: {ttl: 1m}",
	"version":         "at the top of the file, next to name",
	"functions":       "at the top of the file, next to name",
}

// suggestField explains an unknown field: the field probably meant
// (returned as meant too), or where it belongs, or which fields are valid
// here.
func suggestField(key string, known []string) (msg, meant string) {
	if s := suggest.Closest(key, known); s != "" {
		return "did you mean " + s + "?", s
	}
	lower := strings.ToLower(key)
	for _, s := range fieldSynonyms[lower] {
		if contains(known, s) {
			return "did you mean " + s + "?", s
		}
	}
	if home, ok := fieldHome[lower]; ok {
		return key + " belongs " + home, ""
	}
	homes := make([]string, 0, len(fieldHome))
	for f := range fieldHome {
		homes = append(homes, f)
	}
	sort.Strings(homes)
	if s := suggest.Closest(key, homes); s != "" {
		return "did you mean " + s + "? it belongs " + fieldHome[s], ""
	}
	return "valid here: " + strings.Join(known, ", "), ""
}

// typeSynonyms maps names people write for a type to the type.
var typeSynonyms = map[string]Type{
	"integer": TypeInt, "long": TypeInt, "int64": TypeInt, "int32": TypeInt, "number": TypeFloat,
	"double": TypeFloat, "float64": TypeFloat, "float32": TypeFloat, "real": TypeFloat, "decimal": TypeFloat,
	"str": TypeString, "text": TypeString,
	"boolean": TypeBool, "character": TypeChar, "rune": TypeChar,
	"byte": TypeBytes, "binary": TypeBytes, "blob": TypeBytes, "bytearray": TypeBytes,
}

// listPatterns find the element in spellings of a list type.
var listPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^list\s*[\[<(]\s*(\w+)\s*[\]>)]$`), // list[int], list<int>
	regexp.MustCompile(`^\[\](\w+)$`),                      // []int
	regexp.MustCompile(`^(\w+)\s*\[\]$`),                   // int[]
	regexp.MustCompile(`^list_(\w+)$`),                     // list_int
	regexp.MustCompile(`^(\w+?)_?(?:list|array|s)$`),       // intlist, int_array, ints
}

// suggestType explains an unknown type.
func suggestType(s string, isReturn bool) string {
	lower := strings.ToLower(strings.TrimSpace(s))
	valid := "valid types: " + typeList()
	if isReturn {
		switch lower {
		case "none", "void", "nothing", "null", "nil", "unit":
			return "leave return_type empty or out when nothing is returned"
		}
		valid += "; leave it empty when nothing is returned"
	}
	if t := typeNamed(lower); t != TypeNone {
		return "did you mean " + string(t) + "?"
	}
	for _, re := range listPatterns {
		if m := re.FindStringSubmatch(lower); m != nil {
			if t := typeNamed(m[1]); t != TypeNone && !t.IsList() {
				return "did you mean " + string(t) + listSuffix + "?"
			}
		}
	}
	switch lower {
	case "list", "array", "slice", "sequence":
		return "say which list: " + strings.Join(typeNames(true), ", ")
	}
	names := typeNames(false)
	names = append(names, typeNames(true)...)
	if c := suggest.Closest(lower, names); c != "" {
		return "did you mean " + c + "? " + valid
	}
	return valid
}

// typeNamed returns the type a lower-case name means exactly or by synonym.
func typeNamed(s string) Type {
	if t := Type(s); t.Valid() {
		return t
	}
	return typeSynonyms[s]
}

func typeNames(lists bool) []string {
	var s []string
	for _, t := range allTypes {
		if t.IsList() == lists {
			s = append(s, string(t))
		}
	}
	return s
}
