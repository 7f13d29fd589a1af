/* TEMPORARY placeholder until the delivery module lands (not to be committed). */
#include "config.h"
#include "deliver.h"
void deliver_submit(struct deliver *d, const struct alert *a) { (void)d; (void)a; }
