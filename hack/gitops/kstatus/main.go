// Command kstatus computes the kstatus of Kubernetes objects with sigs.k8s.io/cli-utils'
// pkg/kstatus/status.Compute, the library Flux's kustomize-controller uses for `wait: true` and
// `healthChecks`, and `kubectl wait`-style tools use to decide Current / InProgress / Failed.
//
// Input: a JSON array of objects on stdin. Output: a JSON array with one
// {"status", "message"} or {"error"} per object, in order.
//
//	kstatus < objects.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func compute(content map[string]any) result {
	res, err := status.Compute(&unstructured.Unstructured{Object: content})
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Status: res.Status.String(), Message: res.Message}
}

func main() {
	var raw []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading a JSON array of objects from stdin:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(raw))
	for _, item := range raw {
		// Decode as the API machinery does, so that integers stay int64.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(item); err != nil {
			results = append(results, result{Error: err.Error()})
			continue
		}
		results = append(results, compute(u.Object))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}
