package testground

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// loadBalancerController does what a cloud provider would: it gives every
// Service of type LoadBalancer an ingress address, here from 127.0.0.0/8 so
// it is reachable on this machine. Nothing else in the ground assigns them.
type loadBalancerController struct {
	client kubernetes.Interface

	mu       sync.Mutex
	assigned map[types.UID]string
	next     int
}

func (c *loadBalancerController) run(ctx context.Context) {
	c.assigned = map[types.UID]string{}
	factory := informers.NewSharedInformerFactory(c.client, 10*time.Minute)
	inf := factory.Core().V1().Services().Informer()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, inf.GetIndexer(), key); err != nil && ctx.Err() == nil {
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

func (c *loadBalancerController) sync(ctx context.Context, idx cache.Indexer, key string) error {
	obj, exists, err := idx.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	svc := obj.(*corev1.Service)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
		return nil
	}
	ip := c.addressFor(svc.UID)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Spec.Type != corev1.ServiceTypeLoadBalancer || len(cur.Status.LoadBalancer.Ingress) > 0 {
			return nil
		}
		cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip, IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
		_, err = c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// addressFor hands out 127.0.0.2, 127.0.0.3, … one per Service, stably.
func (c *loadBalancerController) addressFor(uid types.UID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ip, ok := c.assigned[uid]; ok {
		return ip
	}
	n := c.next
	c.next++
	ip := fmt.Sprintf("127.0.%d.%d", n/253, n%253+2)
	c.assigned[uid] = ip
	return ip
}

func ptr[T any](v T) *T { return &v }
