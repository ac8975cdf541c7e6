package reconciler

import (
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Drift compares what Slipway applied with what is live, on the fields
// Slipway manages only: every field set in desired must have the same value
// live; fields only the cluster sets (defaults, status, other managers'
// fields) are not drift. It returns the paths that differ, sorted. It is pure.
func Drift(desired, live *unstructured.Unstructured) []string {
	if live == nil {
		return []string{"(object deleted)"}
	}
	var diffs []string
	for k, dv := range desired.Object {
		switch k {
		case "apiVersion", "kind", "status":
			continue
		case "metadata":
			dm, _ := dv.(map[string]any)
			lm, _ := live.Object["metadata"].(map[string]any)
			for _, f := range []string{"labels", "annotations"} {
				if d, ok := dm[f]; ok {
					diffs = subset(d, lm[f], "metadata."+f, diffs)
				}
			}
			continue
		}
		diffs = subset(dv, live.Object[k], k, diffs)
	}
	sort.Strings(diffs)
	return diffs
}

// subset appends to diffs the paths under path where want is not contained in got.
func subset(want, got any, path string, diffs []string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return append(diffs, path)
		}
		for k, wv := range w {
			diffs = subset(wv, g[k], path+"."+k, diffs)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return diffs
			}
			return append(diffs, path)
		}
		if keyed, ok := byName(w); ok {
			live, _ := byName(g)
			for name, wv := range keyed {
				gv, found := live[name]
				if !found {
					diffs = append(diffs, fmt.Sprintf("%s[name=%s]", path, name))
					continue
				}
				diffs = subset(wv, gv, fmt.Sprintf("%s[name=%s]", path, name), diffs)
			}
			return diffs
		}
		if len(w) != len(g) {
			return append(diffs, path)
		}
		for i := range w {
			diffs = subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i), diffs)
		}
		return diffs
	default:
		if !scalarEqual(want, got) {
			return append(diffs, path)
		}
		return diffs
	}
}

// byName indexes a list of objects by their "name" field, the merge key of
// containers, ports, volumes and env.
func byName(list []any) (map[string]any, bool) {
	out := make(map[string]any, len(list))
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		name, ok := m["name"].(string)
		if !ok {
			return nil, false
		}
		out[name] = m
	}
	return out, len(out) > 0
}

func scalarEqual(a, b any) bool {
	af, aNum := number(a)
	bf, bNum := number(b)
	as, aStr := a.(string)
	bs, bStr := b.(string)
	switch {
	case aNum && bNum:
		return af == bf
	case aStr && bStr:
		if as == bs {
			return true
		}
		// "500m" and "0.5" are the same quantity; the API server normalises them.
		return quantityEqual(as, bs)
	case aStr && bNum:
		// A quantity written as a number in Git comes back as a string, and back.
		return quantityEqual(as, fmt.Sprint(bf))
	case aNum && bStr:
		return quantityEqual(fmt.Sprint(af), bs)
	}
	return reflect.DeepEqual(a, b)
}

func quantityEqual(a, b string) bool {
	qa, err1 := resource.ParseQuantity(a)
	qb, err2 := resource.ParseQuantity(b)
	return err1 == nil && err2 == nil && qa.Cmp(qb) == 0
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	return 0, false
}
