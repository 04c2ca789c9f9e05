module agentvm

go 1.19
