// Command luahealth runs Argo CD resource health scripts in github.com/yuin/gopher-lua, the Lua
// interpreter Argo CD embeds, the way Argo CD runs a health check from argocd-cm
// (`resource.customizations.health.<group>_<Kind>`, useOpenLibs unset):
//
//   - a fresh state per object, with only the package, base and table libraries and an os
//     library reduced to time and date (no string, math, io or debug: a script that needs them
//     fails here as it fails in Argo CD);
//   - the object, decoded as Kubernetes' unstructured content (integers are int64, then Lua
//     numbers), is the global `obj`; the script has one second;
//   - the returned table goes through gopher-json and encoding/json into {status, message};
//     a status that is not an Argo CD health code becomes Unknown, "Lua returned an invalid
//     health status"; anything but a table is an error.
//
// Scripts are read per object as <dir>/<group>_<Kind>/health.lua (the resource_customizations
// layout that hack/tools/argocd.py writes next to the argocd-cm patch).
//
// Input: a JSON array of objects on stdin. Output: a JSON array with one
// {"status", "message"} or {"error"} per object, in order.
//
//	luahealth -dir gitops/argocd/health < objects.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// healthCodes are Argo CD's health status codes (gitops-engine pkg/health).
var healthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

const (
	scriptTimeout = time.Second
	invalidStatus = "Lua returned an invalid health status"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// newState opens what Argo CD opens for a health script from argocd-cm.
func newState() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, lua.OpenOs},
	} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	// Keep only os.time and os.date, the part of os Argo CD exposes, also through require("os").
	full := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	safe := l.NewTable()
	for _, name := range []string{"time", "date"} {
		safe.RawSetString(name, full.RawGetString(name))
	}
	l.SetGlobal(lua.OsLibName, safe)
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int { l.Push(safe); return 1 })
	return l
}

// toLua turns unstructured content into Lua values: maps and slices become tables (arrays
// 1-based); anything else, as in Argo CD, is nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	default:
		return lua.LNil
	}
}

// unstructured converts decoded JSON numbers the way the API machinery does: int64 when the
// number is an integer, float64 otherwise.
func unstructured(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = unstructured(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = unstructured(x[k])
		}
		return x
	default:
		return v
	}
}

// scriptFor reads the health script of an object's group and kind.
func scriptFor(dir string, obj map[string]any) (string, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	src, err := os.ReadFile(filepath.Join(dir, group+"_"+kind, "health.lua"))
	if err != nil {
		return "", fmt.Errorf("no health check for %s/%s: %w", group, kind, err)
	}
	return string(src), nil
}

func health(script string, obj map[string]any) result {
	l := newState()
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return result{Error: err.Error()}
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return result{Error: fmt.Sprintf("expect table output from Lua script, not %s", ret.Type())}
	}
	encoded, err := luajson.Encode(ret)
	if err != nil {
		return result{Error: err.Error()}
	}
	var hs struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(encoded, &hs); err != nil {
		return result{Error: err.Error()}
	}
	if !healthCodes[hs.Status] {
		return result{Status: "Unknown", Message: invalidStatus}
	}
	return result{Status: hs.Status, Message: hs.Message}
}

func main() {
	dir := flag.String("dir", "gitops/argocd/health", "resource_customizations-style tree of health.lua files")
	flag.Parse()
	dec := json.NewDecoder(os.Stdin)
	dec.UseNumber()
	var objects []map[string]any
	if err := dec.Decode(&objects); err != nil {
		fmt.Fprintln(os.Stderr, "luahealth: reading a JSON array of objects from stdin:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for _, obj := range objects {
		obj = unstructured(obj).(map[string]any)
		script, err := scriptFor(*dir, obj)
		if err != nil {
			results = append(results, result{Error: err.Error()})
			continue
		}
		results = append(results, health(script, obj))
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "luahealth:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out.Bytes())
}
