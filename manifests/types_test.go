package manifests

import "testing"

func TestType_Methods(t *testing.T) {
	cases := []struct {
		t             Type
		valid, isList bool
		elem          Type
	}{
		{TypeInt, true, false, TypeNone},
		{TypeFloat, true, false, TypeNone},
		{TypeChar, true, false, TypeNone},
		{TypeString, true, false, TypeNone},
		{TypeBool, true, false, TypeNone},
		{TypeBytes, true, false, TypeNone},
		{TypeIntList, true, true, TypeInt},
		{TypeFloatList, true, true, TypeFloat},
		{TypeCharList, true, true, TypeChar},
		{TypeStringList, true, true, TypeString},
		{TypeBoolList, true, true, TypeBool},
		{TypeBytesList, true, true, TypeBytes},
		{TypeStream, true, false, TypeNone},
		{TypeNone, false, false, TypeNone},
		{"int_list_list", false, false, TypeNone},
		{"_list", false, false, TypeNone},
		{"Int", false, false, TypeNone},
	}
	for _, tc := range cases {
		if got := tc.t.Valid(); got != tc.valid {
			t.Errorf("%q.Valid() = %v", string(tc.t), got)
		}
		if got := tc.t.IsList(); got != tc.isList {
			t.Errorf("%q.IsList() = %v", string(tc.t), got)
		}
		if got := tc.t.Elem(); got != tc.elem {
			t.Errorf("%q.Elem() = %q", string(tc.t), string(got))
		}
	}
	if len(Types()) != 13 {
		t.Errorf("Types() = %v", Types())
	}
	for _, typ := range Types() {
		if !typ.Valid() || examples[typ] == "" {
			t.Errorf("%s: valid %v, example %q", typ, typ.Valid(), examples[typ])
		}
	}
	if TypeNone.String() != "nothing" || TypeInt.String() != "int" {
		t.Errorf("String: %q %q", TypeNone.String(), TypeInt.String())
	}
}
