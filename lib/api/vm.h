/* The layout behind the opaque agentvm_vm, shared by the api/ files only. */
#ifndef AGENTVM_API_VM_H
#define AGENTVM_API_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/link.h"
#include "vmm/machine.h"

struct agentvm_vm {
	struct machine *machine;
	int32_t agent_timeout_ms;  /* from the configuration; 0: no agent */
	atomic_bool agent_ready;   /* the agent answered agentvm_vm_start() */
	atomic_uint_fast64_t next_session; /* EXEC session ids, for matching logs */
	bool restored;             /* from a snapshot: the agent gets SYNC on start */
	pthread_mutex_t snapshot_lock; /* one snapshot at a time */
	struct agent_link link;    /* how requests reach the agent */
};

/* A handle around a machine (owned from here on), with cfg's settings; NULL when out of memory. */
struct agentvm_vm *vm_wrap(struct machine *m, int32_t agent_timeout_ms);

/* 0 if vm can serve agent requests, else -ENOTCONN (or -EINVAL for NULL) naming why. */
int vm_agent_check(const struct agentvm_vm *vm, const char *call);

/*
 * Pass an agent call's result through; -EHOSTDOWN ("the VM stopped") gets
 * why it ended added to the message, so a crashed guest does not read like a
 * closed connection.
 */
int vm_explain_end(const struct agentvm_vm *vm, int err);

#endif
