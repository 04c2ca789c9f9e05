#include "trampolines.h"

#include "_cgo_export.h"

/* Runs on a vCPU thread, which cgo attaches to the Go runtime for the call. */
static void console_trampoline(const char *data, size_t len, void *payload)
{
	agentvmGoConsole((char *)data, len, (uintptr_t)payload);
}

/* Runs on the thread that called agentvm_vm_exec(). */
static void output_trampoline(int stream, const void *data, size_t len, void *payload)
{
	agentvmGoOutput(stream, (void *)data, len, (uintptr_t)payload);
}

int agentvm_go_set_console(agentvm_config *cfg, uintptr_t handle)
{
	return agentvm_config_set_console_callback(cfg, console_trampoline, (void *)handle);
}

void agentvm_go_set_output(agentvm_exec_options *opts, uintptr_t handle)
{
	opts->output_fn = output_trampoline;
	opts->output_payload = (void *)handle;
}
