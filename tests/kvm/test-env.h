/* What the cmocka KVM tests share: the guest files meson hands them in the environment. */
#ifndef AGENTVM_TESTS_KVM_TEST_ENV_H
#define AGENTVM_TESTS_KVM_TEST_ENV_H

/* The readable file the environment variable `name` names, or a failed test saying so. */
const char *env_path(const char *name);

#endif
