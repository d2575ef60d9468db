"""The controller's step runner: one step of a capacity test, between a site's cluster and
the agents.

`runner` drives a step (prime, launch, start, wait, drain, judge); each job it hands off
has a module of its own: `topics` (the one topic creator), `fleet` (the step's agents
launched, waited for and read for progress), `consumer_shards` (how many consumers, which
partitions), `clocks` (agent hosts' offsets), `fault_timers` (planned faults during the
load), `merge` (agent results into one `StepResult`) and `verdicts` (the facts handed to
`measure.verdict` and `measure.attribution`). It imports the plan (`config`), the
cluster's interface (`sites.base`), agent handles (`runtimes.agents`), the fault plan
(`faults`), the topics' replication (`kafka.server_config`), the agent protocol and send
schedule (`workload`) and `measure`; the agent side (`pytest_frida.workload`) never
imports it.
"""
