// Command kstatus prints the health that kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status, the
// library Flux computes health with) gives each live UserImport of a namespace, as JSON lines.
//
//	kstatus --kubeconfig FILE --namespace NS            one line per UserImport, by name
//	kstatus --kubeconfig FILE --namespace NS --watch    the same, then one line per change (each
//	                                                    write the API server makes), until
//	                                                    SIGTERM/SIGINT or --timeout
//
// Each line: {"event","name","generation","resourceVersion","phase","status","message","ready"},
// where status and message are status.Compute's result on the object as the API server returned
// it (unstructured), phase is status.phase and ready the Ready condition, for comparing.
// tests/install/test_install.py runs it against the operator installed on a one-node cluster.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

var userImports = schema.GroupVersionResource{Group: "riskassess.io", Version: "v1alpha1", Resource: "userimports"}

// Line is what is printed of one object.
type Line struct {
	Event           string     `json:"event"` // LIST, ADDED, MODIFIED or DELETED
	Name            string     `json:"name"`
	Generation      int64      `json:"generation"`
	ResourceVersion string     `json:"resourceVersion"`
	Phase           string     `json:"phase,omitempty"`
	Status          string     `json:"status"`  // kstatus: InProgress, Current, Failed, Terminating, …
	Message         string     `json:"message"` // kstatus's message
	Ready           *Condition `json:"ready,omitempty"`
}

// Condition is the Ready condition as the object has it.
type Condition struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	namespace := flag.String("namespace", "", "namespace of the UserImports")
	watchToo := flag.Bool("watch", false, "after the list, print a line for every change")
	timeout := flag.Duration("timeout", 10*time.Minute, "with --watch: stop after this long")
	flag.Parse()
	if *kubeconfig == "" || *namespace == "" {
		fmt.Fprintln(os.Stderr, "usage: kstatus --kubeconfig FILE --namespace NS [--watch [--timeout 10m]]")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *namespace, *watchToo, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace string, watchToo bool, timeout time.Duration) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	api := client.Resource(userImports).Namespace(namespace)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].GetName() < list.Items[j].GetName() })
	for i := range list.Items {
		if err := print("LIST", &list.Items[i]); err != nil {
			return err
		}
	}
	if !watchToo {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resourceVersion := list.GetResourceVersion()
	// A test creates its objects after this line: then no change of theirs is missed.
	fmt.Fprintln(os.Stderr, "kstatus: watching from resourceVersion", resourceVersion)
	for {
		// A watch that the server ends (its request timeout) is started again where it stopped.
		resourceVersion, err = follow(ctx, api, resourceVersion)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// follow prints every event of one watch from resourceVersion; it returns the last version seen.
func follow(ctx context.Context, api dynamic.ResourceInterface, resourceVersion string) (string, error) {
	watcher, err := api.Watch(ctx, metav1.ListOptions{ResourceVersion: resourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		return resourceVersion, err
	}
	defer watcher.Stop()
	for {
		select {
		case <-ctx.Done():
			return resourceVersion, nil
		case event, open := <-watcher.ResultChan():
			if !open {
				return resourceVersion, nil
			}
			switch event.Type {
			case watch.Error:
				return resourceVersion, fmt.Errorf("watch: %v", event.Object)
			case watch.Bookmark:
				if u, ok := event.Object.(*unstructured.Unstructured); ok {
					resourceVersion = u.GetResourceVersion()
				}
				continue
			}
			u, ok := event.Object.(*unstructured.Unstructured)
			if !ok {
				return resourceVersion, errors.New("watch: an event without an object")
			}
			resourceVersion = u.GetResourceVersion()
			if err := print(string(event.Type), u); err != nil {
				return resourceVersion, err
			}
		}
	}
}

func print(event string, u *unstructured.Unstructured) error {
	result, err := status.Compute(u)
	if err != nil {
		return fmt.Errorf("%s: %w", u.GetName(), err)
	}
	line := Line{
		Event:           event,
		Name:            u.GetName(),
		Generation:      u.GetGeneration(),
		ResourceVersion: u.GetResourceVersion(),
		Status:          result.Status.String(),
		Message:         result.Message,
	}
	line.Phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		condition, _ := c.(map[string]any)
		if condition["type"] == "Ready" {
			line.Ready = &Condition{}
			line.Ready.Status, _ = condition["status"].(string)
			line.Ready.Reason, _ = condition["reason"].(string)
			line.Ready.Message, _ = condition["message"].(string)
		}
	}
	data, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(data))
	return err
}
