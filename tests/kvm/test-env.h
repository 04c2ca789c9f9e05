/* What the cmocka KVM tests share: the guest files meson hands them in the environment. */
#ifndef AGENTVM_TESTS_KVM_TEST_ENV_H
#define AGENTVM_TESTS_KVM_TEST_ENV_H

/* The readable file the environment variable `name` names, or a failed test saying so. */
const char *env_path(const char *name);

/*
 * End this test program with status 1 and a line saying why if it still runs
 * after `seconds`: a guest that stops answering (tests/vmhost/README.md,
 * "Guests that fail") would otherwise hang it until meson's own timeout.
 */
void test_deadline(unsigned int seconds);

#endif
