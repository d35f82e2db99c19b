// Package agent starts and stops service instances on one host for a
// supervisor: ObjectMQ's RemoteBroker, over omq.
//
// Each host runs one agent (the dpc-agent command). It binds the omq
// service "agent" with its own id as instance id, so a supervisor reaches
// all agents with one multi call and one agent with Stub.At(id):
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
//	p, err := c.Spawn(ctx, "nas", agent.SpawnRequest{Service: "tst", Command: []string{"dpc-service", "tst"}})
//	p, err = c.Stop(ctx, "nas", agent.StopRequest{ID: p.ID})
//
// # Which command runs
//
// An agent runs its own command for a service (Config.Services) if it has
// one, else the command the request brings from the service's manifest if
// that program is on Config.Allow (by default only dpc-service). Anything
// else is refused with a 400 that names the service and the allow list.
//
// # Processes
//
// A process gets the agent's environment plus NATS_URL, DPC_SERVICE and
// DPC_INSTANCE_ID: it binds with that instance id, so the supervisor
// matches the agent's processes to the instances answering $SRV.STATS.
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
