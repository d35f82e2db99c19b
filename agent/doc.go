// Package agent starts and stops service instances on one host for a
// supervisor: ObjectMQ's RemoteBroker, over omq.
//
// Each host runs one agent (the dpc-agent command). It binds the omq
// service "agent" with its own id as instance id, so a supervisor finds
// all agents with $SRV.PING.agent and reaches each with Stub.At(id):
//
//	a, err := agent.New(agent.Config{ID: "nas", NATSURL: url, Logger: log})
//	inst, err := a.Bind(ctx, node) // serves spawn, stop and list
//	...
//	err = a.Shutdown(ctx) // stops every process: SIGTERM, grace, SIGKILL
//	err = inst.Unbind(ctx)
//
// The supervisor uses a Client:
//
//	c := agent.NewClient(node)
//	states, err := c.List(ctx, time.Second) // every agent's processes
//	p, err := c.Spawn(ctx, "nas", agent.SpawnRequest{Service: "tst"})
//	p, err = c.Stop(ctx, "nas", agent.StopRequest{ID: p.ID})
//
// # Which command runs
//
// A spawn request names a service and nothing about how to run it; one
// that brings a command (or any field the agent does not know) is refused
// with a 400. The command comes from the agent's host, in this order:
//
//  1. the agent's own command for the service (Config.Services, from its
//     config file), trusted as it is;
//  2. the command of the service's manifest in a directory of approved
//     manifests (Config.Manifests, read by LoadManifests: installing a
//     manifest there is the owner's approval), if its program is on
//     Config.Allow;
//  3. "dpc-service <service>" if dpc-service, as a bare name, is on
//     Config.Allow (it is by default): the request's validated service
//     name is the only thing it brings to the command line.
//
// Anything else is refused with a 400 that says what the agent lacks.
// List reports which services an agent runs by 1 and 2 and whether it
// falls back on 3 (State.Services, State.Manifests, State.Fallback), so a
// supervisor spawns only where the service runs.
//
// # Processes
//
// A process gets the agent's environment less the variables that may hold
// the agent's own hub credentials (SecretEnv), plus NATS_URL (without any
// user or password), what Config.Credentials issues for the instance,
// DPC_SERVICE and DPC_INSTANCE_ID: it binds with that instance id, so the
// supervisor matches the agent's processes to the instances answering
// $SRV.STATS. Credentials.Issue runs before the process starts (an error
// fails the spawn with a 500) and its cleanup once the process has
// exited, before a stop returns.
// With Config.InstanceMetrics a process also gets DPC_SERVICE_METRICS
// (dpc-service's --metrics), and with Config.Metrics the agent asks each
// instance for its $SRV INFO until it answers: the URL of its /metrics in
// its metadata (catalog.MetaMetrics) is listed, while the process runs,
// by ServiceDiscovery, Prometheus's HTTP service discovery.
// Ids are "<service>-<agent>-<n>" unless the request gives one; a live
// process's id is not given twice. Each line the process writes goes to
// the agent's logger with its instance id.
//
// On Linux each process leads a process group of its own, which is the
// instance: stop signals the whole group, and when the first process exits
// whatever it left in the group is killed. Processes get SIGTERM should
// the agent die, since a restarted agent would not know them. A process
// that exits stays in list, state exited with its exit code or signal and
// whether the stop was asked for, for Config.KeepExited, so that a
// supervisor sees deaths.
//
// # Errors
//
// Refusals are omq errors with a code (CodeBadRequest, CodeNotFound,
// CodeConflict, CodeFailed, CodeUnavailable) and match the sentinels
// (ErrNotFound, …) with errors.Is, in process and through Client alike.
package agent
