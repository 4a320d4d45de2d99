package main

import (
	"strings"
	"testing"
)

func TestScalarsAndQuoting(t *testing.T) {
	cases := map[interface{}]string{
		"plain":       "plain",
		"yes":         `"yes"`,
		"On":          `"On"`,
		"":            `""`,
		"1.0":         `"1.0"`,
		"100m":        `"100m"`,
		"a: b":        `"a: b"`,
		"x #y":        `"x #y"`,
		"-dash":       `"-dash"`,
		"two\nline":   `"two\nline"`,
		"del\x7f":     `"del\u007f"`,
		float64(7200): "7200",
		float64(1e6):  "1000000",
		float64(0.5):  "0.5",
		true:          "true",
	}
	for in, want := range cases {
		if got := yamlScalar(in); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, want)
		}
	}
	if got := yamlScalar(nil); got != "null" {
		t.Errorf("nil: %s", got)
	}
}

func TestToYAMLLayout(t *testing.T) {
	v := map[string]interface{}{
		"b": []interface{}{map[string]interface{}{"name": "x", "ports": []interface{}{float64(1), float64(2)}}, []interface{}{"p", "q"}},
		"a": map[string]interface{}{},
		"c": []interface{}{},
		"d": map[string]interface{}{"e": nil},
	}
	want := "a: {}\nb:\n- name: x\n  ports:\n  - 1\n  - 2\n- - p\n  - q\nc: []\nd:\n  e: null"
	if got := toYAML(v); got != want {
		t.Errorf("toYAML:\n%s\nwant:\n%s", got, want)
	}
}

func TestStringFunctions(t *testing.T) {
	if got := indent(2, "a\nb"); got != "  a\n  b" {
		t.Errorf("indent: %q", got)
	}
	if got := trunc(3, "abcdef"); got != "abc" {
		t.Errorf("trunc: %q", got)
	}
	if got := trunc(-2, "abcdef"); got != "ef" {
		t.Errorf("trunc negative: %q", got)
	}
	if got := quote("a\"b", nil, float64(3)); got != `"a\"b" "3"` {
		t.Errorf("quote: %s", got)
	}
	if got := defaultFn("d", ""); got != "d" {
		t.Errorf("default of empty: %v", got)
	}
	if got := defaultFn("d", false); got != "d" {
		t.Errorf("default of false: %v", got)
	}
	if got := defaultFn("d", "x"); got != "x" {
		t.Errorf("default of given: %v", got)
	}
	if _, err := required("need x", ""); err == nil || !strings.Contains(err.Error(), "need x") {
		t.Errorf("required: %v", err)
	}
}

func TestMergeValuesAndOverwrite(t *testing.T) {
	base := map[string]interface{}{"a": map[string]interface{}{"x": float64(1), "y": float64(2)}, "b": "keep", "c": "drop"}
	over := map[string]interface{}{"a": map[string]interface{}{"y": float64(3)}, "c": nil}
	got := mergeValues(base, over)
	if toJSON(got) != `{"a":{"x":1,"y":3},"b":"keep"}` {
		t.Errorf("mergeValues: %s", toJSON(got))
	}
	if toJSON(base) != `{"a":{"x":1,"y":2},"b":"keep","c":"drop"}` {
		t.Errorf("base changed: %s", toJSON(base))
	}
	src := map[string]interface{}{"n": map[string]interface{}{"k": "v"}}
	dst := mergeOverwrite(map[string]interface{}{}, src)
	dst["n"].(map[string]interface{})["k"] = "changed"
	if src["n"].(map[string]interface{})["k"] != "v" {
		t.Errorf("mergeOverwrite aliased its source")
	}
}
