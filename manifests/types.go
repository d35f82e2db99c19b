package manifests

import "strings"

// Type is the type of an argument or of a function's result, as written in
// arg_type and return_type. The empty Type, TypeNone, is only meaningful as
// a return type: the function returns nothing.
//
// Each type has one JSON form on the wire; see the package documentation.
type Type string

// The types a manifest may name.
const (
	TypeNone   Type = "" // return_type only: nothing is returned
	TypeInt    Type = "int"
	TypeFloat  Type = "float"
	TypeChar   Type = "char"
	TypeString Type = "string"
	TypeBool   Type = "bool"
	TypeBytes  Type = "bytes"

	TypeIntList    Type = "int_list"
	TypeFloatList  Type = "float_list"
	TypeCharList   Type = "char_list"
	TypeStringList Type = "string_list"
	TypeBoolList   Type = "bool_list"
	TypeBytesList  Type = "bytes_list"

	// TypeStream is a body of any size sent as a stream (omq.Stream): its
	// JSON form is the stream's descriptor, and the host hands the
	// handler a reader over it. It has no list type.
	TypeStream Type = "stream"
)

// listSuffix turns an element type into its list type.
const listSuffix = "_list"

var allTypes = []Type{
	TypeInt, TypeFloat, TypeChar, TypeString, TypeBool, TypeBytes,
	TypeIntList, TypeFloatList, TypeCharList, TypeStringList, TypeBoolList, TypeBytesList,
	TypeStream,
}

// Types returns every valid type, scalars first, in the order of the
// schema's table.
func Types() []Type { return append([]Type(nil), allTypes...) }

// Valid reports whether t is one of the named types. TypeNone is not
// Valid: an argument must have a type, though a result may have none.
func (t Type) Valid() bool {
	switch t {
	case TypeInt, TypeFloat, TypeChar, TypeString, TypeBool, TypeBytes,
		TypeIntList, TypeFloatList, TypeCharList, TypeStringList, TypeBoolList, TypeBytesList,
		TypeStream:
		return true
	}
	return false
}

// IsList reports whether t is one of the list types.
func (t Type) IsList() bool {
	return t.Valid() && strings.HasSuffix(string(t), listSuffix)
}

// Elem returns the element type of a list type (TypeInt for
// TypeIntList), and TypeNone for anything else.
func (t Type) Elem() Type {
	if !t.IsList() {
		return TypeNone
	}
	return Type(strings.TrimSuffix(string(t), listSuffix))
}

// String returns the type as written in a manifest, or "nothing" for
// TypeNone, so that messages read well.
func (t Type) String() string {
	if t == TypeNone {
		return "nothing"
	}
	return string(t)
}

// typeList is the valid types for messages: "int, float, …, bytes_list".
func typeList() string {
	s := make([]string, len(allTypes))
	for i, t := range allTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
