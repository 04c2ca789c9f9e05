/*
 * C side of the callbacks into Go. libagentvm hands a callback its void *payload;
 * here that payload is a runtime/cgo.Handle, and these functions do the
 * integer/pointer conversion in C, where it is ordinary, rather than in Go,
 * where go vet rightly suspects it.
 */
#ifndef AGENTVM_GO_TRAMPOLINES_H
#define AGENTVM_GO_TRAMPOLINES_H

#include <stdint.h>

#include <agentvm.h>

/* Send cfg's console output to the Go io.Writer behind handle. */
int agentvm_go_set_console(agentvm_config *cfg, uintptr_t handle);

/* Stream a command's output to the Go outputSink behind handle. */
void agentvm_go_set_output(agentvm_exec_options *opts, uintptr_t handle);

#endif
