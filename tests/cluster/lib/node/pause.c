/* The pod sandbox ("pause") process for the test node: holds the pod's namespaces, reaps zombies,
 * exits on SIGINT/SIGTERM. Same behaviour as Kubernetes' build/pause/linux/pause.c; built with
 * `gcc -static` by tests/cluster/lib/node.sh so that no image has to be pulled from a registry. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { _exit(0); (void)sig; }

static void on_child(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

int main(int argc, char **argv) {
	if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
		puts("orkestra-test-pause");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "Warning: pause should be the first process\n");
	struct sigaction term = {.sa_handler = on_term};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
	if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0) {
		perror("sigaction");
		return 1;
	}
	for (;;)
		pause();
}
