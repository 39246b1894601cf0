package registry

import (
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/megaview/mgvcore/internal/config"
)

// maxCheckTimeout bounds one health check; an answer slower than this is a
// failure whatever the interval.
const maxCheckTimeout = 5 * time.Second

// Options describe this process to the agent.
type Options struct {
	Consul config.Consul
	// ID overrides the service id; empty means <service_name>-<hostname>-<http port>.
	ID string
	// HTTP and GRPC are the listeners' addresses.
	HTTP, GRPC net.Addr
	// GRPCCheckTLS makes the gRPC check a grpc.health.v1 call over TLS. Off
	// (when the server requires client certificates, which the agent does
	// not have) it is a TCP check.
	GRPCCheckTLS bool
	// Meta is added to the service's metadata (version, env).
	Meta map[string]string
}

// ServiceID is stable across upgrades: the child registers the same id as
// its parent, so its registration replaces rather than adds.
func ServiceID(o Options) string {
	if o.ID != "" {
		return o.ID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return o.Consul.ServiceName + "-" + host + "-" + strconv.Itoa(port(o.HTTP))
}

// registration is what the agent is told: the service on its HTTP port, the
// gRPC port in Meta and in the "grpc" tagged address, and one check per
// transport.
func registration(o Options) *api.AgentServiceRegistration {
	id := ServiceID(o)
	advertised := advertise(o)
	checkHost := advertised
	if checkHost == "" {
		// The agent runs on this host in the usual deployment, so loopback
		// reaches a listener bound to every interface.
		checkHost = "127.0.0.1"
	}
	httpPort, grpcPort := port(o.HTTP), port(o.GRPC)

	host, _ := os.Hostname()
	// host tells the registrations of this host (a process and its
	// upgraded child) from those of another with the same ports behind
	// the same agent (containers).
	meta := map[string]string{"http_port": strconv.Itoa(httpPort), "grpc_port": strconv.Itoa(grpcPort), "host": host}
	for k, v := range o.Meta {
		meta[k] = v
	}
	interval := o.Consul.CheckInterval.Duration
	timeout := min(interval, maxCheckTimeout)
	deregister := o.Consul.DeregisterCriticalServiceAfter.String()

	grpcCheck := &api.AgentServiceCheck{
		CheckID:                        id + ":grpc",
		Name:                           "gRPC health",
		Interval:                       interval.String(),
		Timeout:                        timeout.String(),
		DeregisterCriticalServiceAfter: deregister,
	}
	grpcTarget := net.JoinHostPort(checkHost, strconv.Itoa(grpcPort))
	if o.GRPCCheckTLS {
		grpcCheck.GRPC = grpcTarget
		grpcCheck.GRPCUseTLS = true
		// The check proves the server answers grpc.health.v1 over TLS; the
		// agent does not hold our CA (a development one outside pro), and
		// the server's identity is not what it checks.
		grpcCheck.TLSSkipVerify = true
	} else {
		grpcCheck.Name = "gRPC port"
		grpcCheck.TCP = grpcTarget
	}

	reg := &api.AgentServiceRegistration{
		ID:      id,
		Name:    o.Consul.ServiceName,
		Tags:    o.Consul.Tags,
		Port:    httpPort,
		Address: advertised,
		Meta:    meta,
		Checks: api.AgentServiceChecks{
			{
				CheckID:                        id + ":http",
				Name:                           "HTTP /readyz (database)",
				HTTP:                           "http://" + net.JoinHostPort(checkHost, strconv.Itoa(httpPort)) + ReadyPath,
				Method:                         "GET",
				Interval:                       interval.String(),
				Timeout:                        timeout.String(),
				DeregisterCriticalServiceAfter: deregister,
			},
			grpcCheck,
		},
	}
	if advertised != "" {
		reg.TaggedAddresses = map[string]api.ServiceAddress{"grpc": {Address: advertised, Port: grpcPort}}
	}
	return reg
}

// advertise is consul.advertise_addr, else the HTTP listener's own IP when
// it is bound to one; empty lets the agent advertise its node's address.
func advertise(o Options) string {
	if o.Consul.AdvertiseAddr != "" {
		return o.Consul.AdvertiseAddr
	}
	if tcp, ok := o.HTTP.(*net.TCPAddr); ok && tcp.IP != nil && !tcp.IP.IsUnspecified() {
		return tcp.IP.String()
	}
	return ""
}

// ReadyPath is what the registry checks over HTTP: the process serves and
// reaches its database. An instance whose search engine is down still
// takes writes (queued for the index) and stays in rotation; one that
// cannot reach its database, or is starting or draining, leaves it.
const ReadyPath = "/readyz?require=database"

func port(a net.Addr) int {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.Port
	}
	if a != nil {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			n, _ := strconv.Atoi(p)
			return n
		}
	}
	return 0
}
