package registry

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/config"
)

func tcp(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func testOptions() Options {
	c := config.Default().Consul
	c.Enabled = true
	c.Tags = []string{"open-platform"}
	return Options{Consul: c, HTTP: tcp("0.0.0.0:2023"), GRPC: tcp("0.0.0.0:2022"), GRPCCheckTLS: true, Meta: map[string]string{"version": "v1"}}
}

func TestServiceIDIsStable(t *testing.T) {
	host, _ := os.Hostname()
	o := testOptions()
	if got, want := ServiceID(o), "mgvcore-"+host+"-2023"; got != want {
		t.Errorf("id %q, want %q", got, want)
	}
	if ServiceID(o) != ServiceID(testOptions()) {
		t.Error("the id changes between two processes of the same installation")
	}
	o.ID = "mgvcore-blue-1"
	if got := ServiceID(o); got != "mgvcore-blue-1" {
		t.Errorf("app.instance_id not honoured: %q", got)
	}
}

func TestRegistrationAddresses(t *testing.T) {
	cases := []struct {
		name               string
		advertise, httpLn  string
		wantAddr, wantHost string
	}{
		{"every interface", "", "0.0.0.0:2023", "", "127.0.0.1"},
		{"ipv6 any", "", "[::]:2023", "", "127.0.0.1"},
		{"bound to one ip", "", "10.1.2.3:2023", "10.1.2.3", "10.1.2.3"},
		{"advertised", "api-7.internal", "0.0.0.0:2023", "api-7.internal", "api-7.internal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.Consul.AdvertiseAddr = tc.advertise
			o.HTTP = tcp(tc.httpLn)
			reg := registration(o)
			if reg.Address != tc.wantAddr {
				t.Errorf("address %q, want %q", reg.Address, tc.wantAddr)
			}
			if want := "http://" + net.JoinHostPort(tc.wantHost, "2023") + ReadyPath; reg.Checks[0].HTTP != want {
				t.Errorf("http check %q, want %q", reg.Checks[0].HTTP, want)
			}
			if want := net.JoinHostPort(tc.wantHost, "2022"); reg.Checks[1].GRPC != want {
				t.Errorf("grpc check %q, want %q", reg.Checks[1].GRPC, want)
			}
			ta, ok := reg.TaggedAddresses["grpc"]
			if tc.wantAddr == "" && ok {
				t.Errorf("grpc tagged address %v without an address to advertise", ta)
			}
			if tc.wantAddr != "" && (ta.Address != tc.wantAddr || ta.Port != 2022) {
				t.Errorf("grpc tagged address %v", ta)
			}
		})
	}
}

func TestRegistrationDescribesBothPortsAndChecks(t *testing.T) {
	o := testOptions()
	o.Consul.CheckInterval = config.Duration{Duration: 10 * time.Second}
	reg := registration(o)
	if reg.Name != "mgvcore" || reg.Port != 2023 || reg.Meta["grpc_port"] != "2022" || reg.Meta["http_port"] != "2023" ||
		reg.Meta["version"] != "v1" || len(reg.Tags) != 1 {
		t.Errorf("registration %+v", reg)
	}
	if len(reg.Checks) != 2 {
		t.Fatalf("%d checks", len(reg.Checks))
	}
	for _, c := range reg.Checks {
		if c.Interval != "10s" || c.Timeout != "5s" || c.DeregisterCriticalServiceAfter != "1m0s" {
			t.Errorf("check %s: interval %s timeout %s deregister %s", c.CheckID, c.Interval, c.Timeout, c.DeregisterCriticalServiceAfter)
		}
	}
	if g := reg.Checks[1]; !g.GRPCUseTLS || !g.TLSSkipVerify || g.TCP != "" {
		t.Errorf("grpc check %+v, want grpc.health.v1 over TLS", g)
	}

	o.GRPCCheckTLS = false
	if g := registration(o).Checks[1]; g.GRPC != "" || g.TCP != "127.0.0.1:2022" {
		t.Errorf("grpc check %+v, want TCP when client certificates are required", g)
	}
}
