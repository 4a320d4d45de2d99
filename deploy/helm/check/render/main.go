// Command helmrender renders one of Maestro's Helm charts the way `helm template` would, for the
// chart checks of scripts/helm-check.sh. It is not Helm: it is a small renderer on Go's
// text/template with the built-in objects and the template functions Maestro's charts use, written
// for this project (see deploy/helm/README.md, "How the charts are checked here").
//
// YAML is read by the caller: Chart.yaml, values.yaml and every override file arrive here as JSON
// (the Go standard library has no YAML reader, and this program has no dependencies). Numbers are
// decoded as float64, as Helm's values are.
//
//	helmrender -chart DIR -chart-meta CHART.json -values DEFAULTS.json [-values OVERRIDE.json ...]
//	           [-release NAME] [-namespace NS] [-values-out MERGED.json] [-notes]
//
// Prints the rendered manifests as one multi-document YAML stream (each document headed by
// `# Source: <chart>/templates/<file>`), or with -notes the rendered NOTES.txt. Exits 1 with the
// template error on stderr when rendering fails (a failed `required` or `fail` included).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// apiVersions answers `.Capabilities.APIVersions.Has "group/version"`.
type apiVersions []string

// Has says whether the group/version (or group/version/Kind) is one this renderer claims to know.
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// The API versions claimed by default: those of a plain cluster. Extra ones (for example
// monitoring.coreos.com/v1 when the Prometheus operator is installed) come from -api-versions.
var baseAPIVersions = []string{"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}

func main() {
	var valueFiles multiFlag
	var extraAPIs multiFlag
	chartDir := flag.String("chart", "", "chart directory (with templates/)")
	chartMeta := flag.String("chart-meta", "", "Chart.yaml as JSON")
	release := flag.String("release", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "the .Capabilities.KubeVersion to claim")
	valuesOut := flag.String("values-out", "", "write the merged values here as JSON")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Var(&valueFiles, "values", "values as JSON; repeat, later files win (the first is the chart's values.yaml)")
	flag.Var(&extraAPIs, "api-versions", "an extra API version for .Capabilities.APIVersions.Has; repeat")
	flag.Parse()
	if *chartDir == "" || *chartMeta == "" {
		fmt.Fprintln(os.Stderr, "helmrender: -chart and -chart-meta are required")
		os.Exit(2)
	}
	out, err := run(*chartDir, *chartMeta, valueFiles, *release, *namespace, *kubeVersion, *valuesOut, *notes, extraAPIs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmrender:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func readJSON(path string) (interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v interface{}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// mergeValues lays override over base, as Helm does with values files: maps merge key by key,
// anything else replaces, and a null in the override removes the key.
func mergeValues(base, override map[string]interface{}) map[string]interface{} {
	out := deepCopyMap(base)
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = mergeValues(bm, om)
		} else {
			out[k] = deepCopy(v)
		}
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	default:
		return v
	}
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// chartObject maps Chart.yaml's keys to the capitalised fields templates read (.Chart.Name ...).
func chartObject(meta map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range meta {
		if k == "" {
			continue
		}
		out[strings.ToUpper(k[:1])+k[1:]] = v
	}
	return out
}

func run(chartDir, chartMeta string, valueFiles []string, release, namespace, kubeVersion, valuesOut string, notes bool, extraAPIs []string) (string, error) {
	metaRaw, err := readJSON(chartMeta)
	if err != nil {
		return "", err
	}
	meta, ok := metaRaw.(map[string]interface{})
	if !ok {
		return "", errors.New("chart metadata is not a mapping")
	}
	chartName, _ := meta["name"].(string)
	if chartName == "" {
		return "", errors.New("Chart.yaml has no name")
	}
	values := map[string]interface{}{}
	for _, f := range valueFiles {
		v, err := readJSON(f)
		if err != nil {
			return "", err
		}
		if v == nil {
			continue // an empty values file
		}
		m, ok := v.(map[string]interface{})
		if !ok {
			return "", fmt.Errorf("%s: values must be a mapping", f)
		}
		values = mergeValues(values, m)
	}
	if valuesOut != "" {
		data, _ := json.MarshalIndent(values, "", "  ")
		if err := os.WriteFile(valuesOut, data, 0o644); err != nil {
			return "", err
		}
	}

	// Every file under templates/ joins one template set, named <chart>/templates/<path>, so that
	// `define`d templates of any file can be included from any other.
	tplDir := filepath.Join(chartDir, "templates")
	var names []string
	sources := map[string]string{}
	err = filepath.WalkDir(tplDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tplDir, path)
		name := chartName + "/templates/" + filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		names = append(names, name)
		sources[name] = string(data)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)

	root := template.New(chartName)
	root.Funcs(funcMap(root))
	// Missing map keys render as nothing (Helm's non-strict mode), not as "<no value>".
	root.Option("missingkey=zero")
	for _, n := range names {
		if _, err := root.New(n).Parse(sources[n]); err != nil {
			return "", err
		}
	}

	apis := apiVersions(append(append([]string{}, baseAPIVersions...), extraAPIs...))
	major, minor := "1", "30"
	if parts := strings.SplitN(strings.TrimPrefix(kubeVersion, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	top := func(name string) map[string]interface{} {
		return map[string]interface{}{
			"Values": values,
			"Release": map[string]interface{}{
				"Name": release, "Namespace": namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Chart": chartObject(meta),
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{"Version": kubeVersion, "GitVersion": kubeVersion, "Major": major, "Minor": minor},
				"APIVersions": apis,
			},
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
	}

	var out strings.Builder
	for _, n := range names {
		base := filepath.Base(n)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || isNotes != notes {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, top(n)); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			out.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, strings.TrimRight(text, "\n"))
	}
	return out.String(), nil
}
