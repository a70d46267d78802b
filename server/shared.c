/* shared.c - the answering loops' view and its lock (see shared.h for the rules). */
#include <errno.h>

#include "shared.h"

int shared_init(struct shared *sh)
{
	pthread_rwlockattr_t attr;
	int err;

	*sh = (struct shared){ 0 };
	if ((err = pthread_rwlockattr_init(&attr)))
		return -err;
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&sh->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -err;
}

void shared_destroy(struct shared *sh)
{
	pthread_rwlock_destroy(&sh->lock);
}

void shared_apply(struct shared *sh, const struct shared_view *view)
{
	shared_write_begin(sh);
	sh->view = *view;
	shared_write_end(sh);
}
