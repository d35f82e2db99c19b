// Package dashboards holds DPC's Grafana dashboards and alerting rules.
// dpc.json shows omq's calls (rate, errors by code, handler latency and
// queue wait), the provisioner's instances and decisions, the durable
// lane and its dead letters, the hub's connections and JetStream usage,
// and the agents' processes. Its datasource is the template variable
// ${datasource}; service and instance are template variables too.
// alerts.yml holds Prometheus alerting rules (SLA breach, an instance
// flapping, a durable backlog growing, refused logins, a hub down or cut
// off from its cluster), and alerts_test.yml the promtool unit tests that
// prove each fires. The package's tests parse every query and alert
// expression with the PromQL parser and check that each metric it names
// is exported by the code, and run promtool when it is installed.
// docs/OPERATIONS.md says how to use them.
package dashboards

import _ "embed"

// DPC is the dashboard's JSON, to import into Grafana.
//
//go:embed dpc.json
var DPC []byte
