// Package dashboards holds DPC's Grafana dashboards. dpc.json shows omq's
// calls (rate, errors by code, handler latency and queue wait), the
// provisioner's instances and decisions, the durable lane and its dead
// letters, and the hub's connections and JetStream usage. Its datasource
// is the template variable ${datasource}; service and instance are
// template variables too. The package's test parses every query with the
// PromQL parser and checks that each metric it names is exported by the
// code.
package dashboards

import _ "embed"

// DPC is the dashboard's JSON, to import into Grafana.
//
//go:embed dpc.json
var DPC []byte
