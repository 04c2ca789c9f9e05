/* How a device asks the VMM to end the VM: the guest pressed "reset" or "power". */
#ifndef AGENTVM_DEVICES_MACHINE_EVENT_H
#define AGENTVM_DEVICES_MACHINE_EVENT_H

enum machine_event {
	MACHINE_EVENT_POWEROFF = 1,
	MACHINE_EVENT_REBOOT = 2,
};

struct machine_event_sink {
	void (*request)(void *ctx, enum machine_event event);
	void *ctx;
};

#endif
