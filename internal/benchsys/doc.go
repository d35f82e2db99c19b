// Package benchsys starts a system of real DPC processes for a bench and
// stops it: a dpc-hub on random loopback ports with a temporary data
// directory, and dpc-service instances, or dpc-agent and dpc-provisioner
// running them. The hub installs its owner's profile in a DPC_HOME of the
// system's own, which every process and the bench's own connections use
// (TLS to the hub's CA, the owner's credentials): the user's profile is
// neither read nor written.
//
// Two systems are built in: [StartTst], a hub and instances of the tst
// service (or a running system to measure, given its URL), for the
// thesis and soak benches; and [StartWork], the work service resized by
// dpc-provisioner beside a fixed-size copy of it, for the elasticity
// benches. [System] has the parts to start others: [System.StartHub]
// (or [System.StartHubWith], to set the hub's environment),
// [System.StartProc], [System.Stop].
package benchsys
