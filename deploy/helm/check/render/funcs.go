package main

// The template functions of Maestro's charts, each written here after the behaviour Helm documents
// for it. Only these exist: a chart that calls another function fails to parse, so the charts cannot
// drift outside what is checked.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// funcMap returns the functions available to templates; include needs the template set.
func funcMap(root *template.Template) template.FuncMap {
	return template.FuncMap{
		// Rendering a named template into a string, so that it can be piped (Helm's include).
		"include": func(name string, data interface{}) (string, error) {
			var b strings.Builder
			if err := root.ExecuteTemplate(&b, name, data); err != nil {
				return "", err
			}
			return b.String(), nil
		},
		"required":       required,
		"fail":           func(msg string) (string, error) { return "", errors.New(msg) },
		"default":        defaultFn,
		"empty":          isEmpty,
		"quote":          quote,
		"indent":         indent,
		"nindent":        func(n int, s string) string { return "\n" + indent(n, s) },
		"toYaml":         toYAML,
		"toJson":         toJSON,
		"fromJson":       fromJSON,
		"b64enc":         func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"sha256sum":      func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"trunc":          trunc,
		"trimSuffix":     func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"trimPrefix":     func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"lower":          strings.ToLower,
		"contains":       func(sub, s string) bool { return strings.Contains(s, sub) },
		"toString":       toString,
		"int":            toInt,
		"dict":           dict,
		"list":           func(items ...interface{}) []interface{} { return append([]interface{}{}, items...) },
		"hasKey":         func(m map[string]interface{}, k string) bool { _, ok := m[k]; return ok },
		"set":            func(m map[string]interface{}, k string, v interface{}) map[string]interface{} { m[k] = v; return m },
		"mergeOverwrite": mergeOverwrite,
		"join":           join,
		"concat":         concat,
		"append": func(l interface{}, v interface{}) []interface{} {
			return append(concat(l), v)
		},
		"ternary": func(yes, no interface{}, cond bool) interface{} {
			if cond {
				return yes
			}
			return no
		},
	}
}

// required fails rendering with msg when v is nil or an empty string.
func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return nil, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

// defaultFn returns the given value, or def when it is empty (or absent).
func defaultFn(def interface{}, given ...interface{}) interface{} {
	if len(given) == 0 || isEmpty(given[0]) {
		return def
	}
	return given[0]
}

// isEmpty: nil, false, 0, "" and empty collections are empty.
func isEmpty(v interface{}) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return r.Len() == 0
	case reflect.Bool:
		return !r.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return r.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return r.Float() == 0
	case reflect.Ptr, reflect.Interface:
		return r.IsNil()
	}
	return false
}

// toString prints a value the way templates expect (strings as they are, numbers without
// exponent when integral).
func toString(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case []byte:
		return string(t)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10)
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	case error:
		return t.Error()
	case fmt.Stringer:
		return t.String()
	}
	return fmt.Sprint(v)
}

// quote wraps each non-nil argument, as a string, in double quotes with Go escapes.
func quote(args ...interface{}) string {
	var out []string
	for _, a := range args {
		if a != nil {
			out = append(out, strconv.Quote(toString(a)))
		}
	}
	return strings.Join(out, " ")
}

// indent puts n spaces before every line of s.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// trunc keeps the first n bytes of s (n >= 0) or the last -n (n < 0).
func trunc(n int, s string) string {
	if n >= 0 {
		if len(s) > n {
			return s[:n]
		}
		return s
	}
	if len(s)+n > 0 {
		return s[len(s)+n:]
	}
	return s
}

// toInt converts numbers and numeric strings to int (0 when it cannot).
func toInt(v interface{}) int {
	switch t := v.(type) {
	case float64:
		return int(t)
	case int:
		return t
	case int64:
		return int(t)
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(t))
		if err == nil {
			return i
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err == nil {
			return int(f)
		}
	case bool:
		if t {
			return 1
		}
	}
	return 0
}

// dict builds a mapping from key, value pairs (a missing last value is "").
func dict(kv ...interface{}) map[string]interface{} {
	m := map[string]interface{}{}
	for i := 0; i < len(kv); i += 2 {
		var v interface{} = ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		m[toString(kv[i])] = v
	}
	return m
}

// concat joins lists into one new list.
func concat(lists ...interface{}) []interface{} {
	out := []interface{}{}
	for _, l := range lists {
		r := reflect.ValueOf(l)
		if l == nil || (r.Kind() != reflect.Slice && r.Kind() != reflect.Array) {
			continue
		}
		for i := 0; i < r.Len(); i++ {
			out = append(out, r.Index(i).Interface())
		}
	}
	return out
}

// join joins a list's items, as strings, with sep.
func join(sep string, v interface{}) string {
	r := reflect.ValueOf(v)
	if v == nil || (r.Kind() != reflect.Slice && r.Kind() != reflect.Array) {
		return toString(v)
	}
	parts := make([]string, r.Len())
	for i := range parts {
		parts[i] = toString(r.Index(i).Interface())
	}
	return strings.Join(parts, sep)
}

// mergeOverwrite merges each source into dst, deeply; later sources win. Unlike a merge that
// shares nested maps, every map taken from a source is copied first, so merging never changes
// the values a template read from (.Values stays as given). Returns dst.
func mergeOverwrite(dst map[string]interface{}, srcs ...map[string]interface{}) map[string]interface{} {
	for _, src := range srcs {
		for k, v := range src {
			dm, dok := dst[k].(map[string]interface{})
			sm, sok := v.(map[string]interface{})
			if dok && sok {
				dst[k] = mergeOverwrite(deepCopyMap(dm), sm)
			} else {
				dst[k] = deepCopy(v)
			}
		}
	}
	return dst
}

// fromJSON decodes JSON text (numbers as float64); nil when it is not JSON.
func fromJSON(s string) interface{} {
	var v interface{}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil
	}
	return v
}

// toJSON encodes v as compact JSON ("" when it cannot be encoded).
func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

// toYAML encodes v as block-style YAML with sorted keys and no final newline. Strings that a YAML
// reader could take for anything but a string are double-quoted (more often than strictly needed).
func toYAML(v interface{}) string {
	var b strings.Builder
	writeYAML(&b, normalize(v), 0)
	return strings.TrimSuffix(b.String(), "\n")
}

// normalize turns any map, slice or number into the JSON-like types the emitter knows.
func normalize(v interface{}) interface{} {
	if v == nil {
		return nil
	}
	switch t := v.(type) {
	case string, bool, float64:
		return t
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			out[k] = normalize(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = normalize(x)
		}
		return out
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Map:
		out := make(map[string]interface{}, r.Len())
		for _, k := range r.MapKeys() {
			out[toString(k.Interface())] = normalize(r.MapIndex(k).Interface())
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]interface{}, r.Len())
		for i := range out {
			out[i] = normalize(r.Index(i).Interface())
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(r.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(r.Uint())
	case reflect.Float32:
		return r.Float()
	case reflect.Ptr, reflect.Interface:
		if r.IsNil() {
			return nil
		}
		return normalize(r.Elem().Interface())
	}
	return toString(v)
}

func writeYAML(b *strings.Builder, v interface{}, ind int) {
	pad := strings.Repeat(" ", ind)
	switch t := v.(type) {
	case map[string]interface{}:
		if len(t) == 0 {
			b.WriteString(pad + "{}\n")
			return
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(pad + yamlScalar(k) + ":")
			writeValueAfterKey(b, t[k], ind)
		}
	case []interface{}:
		if len(t) == 0 {
			b.WriteString(pad + "[]\n")
			return
		}
		for _, item := range t {
			if isCollection(item) {
				// Render the item two columns in, then put "- " over the first line's indent.
				var sub strings.Builder
				writeYAML(&sub, item, ind+2)
				b.WriteString(pad + "- " + strings.TrimPrefix(sub.String(), pad+"  "))
			} else {
				b.WriteString(pad + "- " + yamlScalar(item) + "\n")
			}
		}
	default:
		b.WriteString(pad + yamlScalar(t) + "\n")
	}
}

// isCollection: a non-empty map or list (empty ones are written inline as {} and []).
func isCollection(v interface{}) bool {
	switch t := v.(type) {
	case map[string]interface{}:
		return len(t) > 0
	case []interface{}:
		return len(t) > 0
	}
	return false
}

func writeValueAfterKey(b *strings.Builder, v interface{}, ind int) {
	switch t := v.(type) {
	case map[string]interface{}:
		if len(t) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		writeYAML(b, t, ind+2)
	case []interface{}:
		if len(t) == 0 {
			b.WriteString(" []\n")
			return
		}
		// A list under a key sits at the key's own column.
		b.WriteString("\n")
		writeYAML(b, t, ind)
	default:
		b.WriteString(" " + yamlScalar(t) + "\n")
	}
}

// yamlScalar writes null, booleans, numbers (as JSON writes them) and strings.
func yamlScalar(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		if t {
			return "true"
		}
		return "false"
	case map[string]interface{}:
		return "{}" // only empty maps reach here
	case []interface{}:
		return "[]" // only empty lists reach here
	case float64:
		data, err := json.Marshal(t)
		if err != nil { // NaN or an infinity
			switch {
			case math.IsNaN(t):
				return ".nan"
			case t > 0:
				return ".inf"
			default:
				return "-.inf"
			}
		}
		// YAML 1.1 readers take 1e-7 for a string: give exponents a fraction (1.0e-7).
		text := string(data)
		if strings.ContainsAny(text, "eE") && !strings.Contains(text, ".") {
			i := strings.IndexAny(text, "eE")
			text = text[:i] + ".0" + text[i:]
		}
		return text
	case string:
		if plainIsSafe(t) {
			return t
		}
		return doubleQuoted(t)
	}
	return doubleQuoted(toString(v))
}

// Words a YAML 1.1 or 1.2 reader resolves to something other than a string.
var specialWords = map[string]bool{
	"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "y": true, "n": true,
	"null": true, "~": true,
}

// plainIsSafe allows a string unquoted only when it cannot be read back as anything else: letters,
// digits and a few punctuation characters, starting with a letter, "/" or "_", and not a special
// word. Everything else is quoted.
func plainIsSafe(s string) bool {
	if s == "" || specialWords[strings.ToLower(s)] {
		return false
	}
	first := s[0]
	if !((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '/' || first == '_') {
		return false
	}
	if strings.HasSuffix(s, " ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '/' || c == '_' || c == '-' || c == '.' || c == '=' || c == '+' || c == '(' || c == ')':
		case c == ' ' && (i+1 < len(s) && s[i+1] != '#' && s[i+1] != ' '):
		default:
			return false
		}
	}
	return true
}

// doubleQuoted writes a YAML double-quoted scalar, escaping quotes, backslashes and every
// character YAML does not allow raw.
func doubleQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfeff || r == 0xfffe || r == 0xffff || (r >= 0xd800 && r <= 0xdfff):
			if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
