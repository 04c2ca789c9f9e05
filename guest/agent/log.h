/* Diagnostics of the agent: one line each on its stderr, the console in a guest. */
#ifndef AGENTVM_GUEST_LOG_H
#define AGENTVM_GUEST_LOG_H

/*
 * "agentvm-agent: " + the formatted text + "\n", in one write so the lines
 * of concurrent workers do not interleave. Every byte on a VM's console is a
 * VM exit: log failures and milestones, never per-request chatter.
 */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
