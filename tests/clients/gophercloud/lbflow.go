// lbflow: the load balancer flow of Kubernetes' cloud-provider-openstack, written with
// gophercloud, run by tests/clients/test_keystone_clients.py against ostium's built-in
// Keystone. It authenticates the three ways CPO's cloud.conf allows (password with
// user/project names and domain, an application credential, a token), finds the
// load-balancer and network endpoints in the catalog, and creates, finds, updates and
// deletes a load balancer the way the controller does. Each step prints one line
// "ok <step>"; any failure prints the error and exits 1.
//
// Configuration (environment, as in CPO's [Global] section):
//
//	OS_AUTH_URL, OS_REGION_NAME, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
//	OS_DOMAIN_NAME, OS_APPLICATION_CREDENTIAL_ID, OS_APPLICATION_CREDENTIAL_SECRET
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/openstack/networking/v2/subnets"
)

func must(step string, err error) {
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", step, err)
		os.Exit(1)
	}
	fmt.Printf("ok %s\n", step)
}

func waitActive(lb *gophercloud.ServiceClient, id string) error {
	for i := 0; i < 600; i++ {
		got, err := loadbalancers.Get(lb, id).Extract()
		if err != nil {
			return err
		}
		switch got.ProvisioningStatus {
		case "ACTIVE":
			return nil
		case "ERROR":
			return fmt.Errorf("load balancer %s went to ERROR", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("load balancer %s never became ACTIVE", id)
}

func waitGone(lb *gophercloud.ServiceClient, id string) error {
	for i := 0; i < 600; i++ {
		_, err := loadbalancers.Get(lb, id).Extract()
		if _, ok := err.(gophercloud.ErrDefault404); ok {
			return nil
		}
		if err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("load balancer %s was never deleted", id)
}

func main() {
	region := os.Getenv("OS_REGION_NAME")
	password := gophercloud.AuthOptions{
		IdentityEndpoint: os.Getenv("OS_AUTH_URL"),
		Username:         os.Getenv("OS_USERNAME"),
		Password:         os.Getenv("OS_PASSWORD"),
		DomainName:       os.Getenv("OS_DOMAIN_NAME"),
		TenantName:       os.Getenv("OS_PROJECT_NAME"),
	}
	provider, err := openstack.AuthenticatedClient(password)
	must("password auth", err)

	appcred := gophercloud.AuthOptions{
		IdentityEndpoint:            os.Getenv("OS_AUTH_URL"),
		ApplicationCredentialID:     os.Getenv("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialSecret: os.Getenv("OS_APPLICATION_CREDENTIAL_SECRET"),
	}
	_, err = openstack.AuthenticatedClient(appcred)
	must("application credential auth", err)

	token := gophercloud.AuthOptions{
		IdentityEndpoint: os.Getenv("OS_AUTH_URL"),
		TokenID:          provider.Token(),
	}
	_, err = openstack.AuthenticatedClient(token)
	must("token auth", err)

	wrong := password
	wrong.Password = "not-the-password"
	_, err = openstack.AuthenticatedClient(wrong)
	if _, ok := err.(gophercloud.ErrDefault401); !ok {
		must("wrong password refused", fmt.Errorf("expected a 401, got %v", err))
	}
	fmt.Println("ok wrong password refused")

	eo := gophercloud.EndpointOpts{Region: region}
	lb, err := openstack.NewLoadBalancerV2(provider, eo)
	must("load-balancer endpoint", err)
	network, err := openstack.NewNetworkV2(provider, eo)
	must("network endpoint", err)

	pages, err := subnets.List(network, subnets.ListOpts{Name: "vip-subnet"}).AllPages()
	must("subnet lookup", err)
	found, err := subnets.ExtractSubnets(pages)
	if err == nil && len(found) != 1 {
		err = fmt.Errorf("%d subnets named vip-subnet", len(found))
	}
	must("subnet found", err)

	name := "kube_service_cpo_demo"
	created, err := loadbalancers.Create(lb, loadbalancers.CreateOpts{
		Name: name, Description: "Kubernetes external service default/demo",
		VipSubnetID: found[0].ID, Tags: []string{"kube_service_cpo_demo"},
	}).Extract()
	must("load balancer create", err)
	must("load balancer active", waitActive(lb, created.ID))

	listener, err := listeners.Create(lb, listeners.CreateOpts{
		Name: "listener_0_" + name, Protocol: listeners.ProtocolTCP, ProtocolPort: 80,
		LoadbalancerID: created.ID,
	}).Extract()
	must("listener create", err)
	must("active after listener", waitActive(lb, created.ID))

	pool, err := pools.Create(lb, pools.CreateOpts{
		Name: "pool_0_" + name, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodRoundRobin,
		ListenerID: listener.ID,
	}).Extract()
	must("pool create", err)
	must("active after pool", waitActive(lb, created.ID))

	members := []pools.BatchUpdateMemberOpts{
		{Address: "198.18.128.10", ProtocolPort: 30080},
		{Address: "198.18.128.11", ProtocolPort: 30080},
	}
	must("members batch update", pools.BatchUpdateMembers(lb, pool.ID, members).ExtractErr())
	must("active after members", waitActive(lb, created.ID))

	_, err = monitors.Create(lb, monitors.CreateOpts{
		Name: "monitor_0_" + name, PoolID: pool.ID, Type: monitors.TypeTCP,
		Delay: 5, Timeout: 3, MaxRetries: 1,
	}).Extract()
	must("monitor create", err)
	must("active after monitor", waitActive(lb, created.ID))

	all, err := loadbalancers.List(lb, loadbalancers.ListOpts{Name: name}).AllPages()
	must("load balancer list by name", err)
	byName, err := loadbalancers.ExtractLoadBalancers(all)
	if err == nil && (len(byName) != 1 || byName[0].ID != created.ID) {
		err = fmt.Errorf("%d load balancers named %s", len(byName), name)
	}
	must("load balancer found by name", err)

	err = loadbalancers.Delete(lb, created.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr()
	must("load balancer cascade delete", err)
	must("load balancer gone", waitGone(lb, created.ID))
}
