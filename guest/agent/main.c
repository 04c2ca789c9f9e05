/*
 * agentvm-agent: the guest side of doc/protocol.md. As PID 1 (the default
 * initramfs's /init) it also sets the guest up and never exits; run any
 * other way it only serves.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "init.h"
#include "log.h"
#include "server.h"

int main(void)
{
	bool pid1 = getpid() == 1;
	int err = 0;

	if (pid1)
		err = pid1_setup();
	stdio_ensure();
	/* Relative FILE_WRITE and FILE_READ paths are relative to / (doc/protocol.md). */
	if (!err && chdir("/") < 0) {
		err = -errno;
		agent_log("chdir /: %s", strerror(errno));
	}
	if (!err)
		server_run();
	if (pid1)
		pid1_halt();
	return 1;
}
