/* test_list.c - list.h: container_of, adding at both ends, deleting, popping, walking
 * with deletion, and the linked/unlinked state of a node. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "list.h"
#include "tap.h"

struct item {
	int value;
	char pad[3];           /* the node is not the first member: container_of must */
	struct list_node node; /* subtract its offset */
};

/* The values on h from head to tail, as "1 2 3" ("" when empty); also checks that
 * every prev link is the reverse of the next links. */
static const char *values(const struct list_head *h)
{
	static char buf[256];
	const struct list_node *n, *prev = &h->n;
	size_t off = 0;

	buf[0] = 0;
	for (n = list_first(h); n; n = list_next(h, n)) {
		if (n->prev != prev)
			return "broken prev link";
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", off ? " " : "",
					container_of(n, struct item, node)->value);
		prev = n;
	}
	if (h->n.prev != prev)
		return "broken tail link";
	return buf;
}

static void test_container_of(void)
{
	struct item it = { .value = 7 };
	const struct list_node *np = &it.node;

	ok(container_of(&it.node, struct item, node) == &it, "container_of finds the item");
	ok(container_of(np, struct item, node)->value == 7, "and reads it");
	ok(offsetof(struct item, node) > 0, "the node is not at offset 0 (the test means it)");
}

static void test_add_del(void)
{
	struct list_head h = LIST_HEAD_INIT(h), h2;
	struct item it[5];

	for (int i = 0; i < 5; i++) {
		it[i].value = i;
		list_node_init(&it[i].node);
	}
	ok(list_empty(&h) && list_first(&h) == NULL, "LIST_HEAD_INIT: empty");
	is_str(values(&h), "", "no values");
	ok(!list_linked(&it[0].node), "list_node_init: not linked");

	list_add_tail(&h, &it[1].node);
	list_add_tail(&h, &it[2].node);
	list_add_head(&h, &it[0].node);
	list_add_tail(&h, &it[3].node);
	is_str(values(&h), "0 1 2 3", "add_head and add_tail keep their order");
	ok(!list_empty(&h) && list_linked(&it[2].node) && !list_linked(&it[4].node),
	   "linked nodes say so, others do not");
	ok(list_next(&h, &it[3].node) == NULL, "list_next of the last: NULL");

	list_del(&it[2].node);
	is_str(values(&h), "0 1 3", "delete from the middle");
	ok(!list_linked(&it[2].node) && it[2].node.next == NULL && it[2].node.prev == NULL,
	   "a deleted node is unlinked");
	list_del(&it[2].node);
	list_del(&it[4].node);
	is_str(values(&h), "0 1 3", "deleting an unlinked node changes nothing");
	list_del(&it[0].node);
	is_str(values(&h), "1 3", "delete the first");
	list_del(&it[3].node);
	is_str(values(&h), "1", "delete the last");
	list_add_tail(&h, &it[2].node);
	is_str(values(&h), "1 2", "a deleted node can be added again");

	list_init(&h2);
	ok(list_empty(&h2) && list_pop(&h2) == NULL, "list_init: empty; pop gives NULL");
	list_del(&it[1].node);
	list_add_head(&h2, &it[1].node);
	is_str(values(&h2), "1", "moved to another list");
	is_str(values(&h), "2", "and gone from the first");
}

static void test_pop(void)
{
	struct list_head h;
	struct item it[3];
	struct list_node *n;

	list_init(&h);
	for (int i = 0; i < 3; i++) {
		it[i].value = 10 + i;
		list_node_init(&it[i].node);
		list_add_tail(&h, &it[i].node);
	}
	n = list_pop(&h);
	ok(n == &it[0].node && !list_linked(n), "pop takes the head, unlinked");
	is_str(values(&h), "11 12", "the rest stays");
	n = list_pop(&h);
	ok(n == &it[1].node, "pop again");
	n = list_pop(&h);
	ok(n == &it[2].node && list_empty(&h), "pop the last: empty");
	ok(list_pop(&h) == NULL, "pop on empty: NULL");
	ok(h.n.next == &h.n && h.n.prev == &h.n, "the sentinel points at itself again");
}

static void test_for_each_safe(void)
{
	struct list_head h;
	struct item it[6];
	struct list_node *pos, *tmp;
	int seen = 0, sum = 0;

	list_init(&h);
	list_for_each_safe(pos, tmp, &h)
		seen++;
	is_int(seen, 0, "walking an empty list: no step");

	for (int i = 0; i < 6; i++) {
		it[i].value = i;
		list_node_init(&it[i].node);
		list_add_tail(&h, &it[i].node);
	}
	/* delete the odd values while walking */
	list_for_each_safe(pos, tmp, &h) {
		struct item *x = container_of(pos, struct item, node);

		seen++;
		sum += x->value;
		if (x->value % 2)
			list_del(pos);
	}
	ok(seen == 6 && sum == 15, "every node visited once while deleting (%d, sum %d)",
	   seen, sum);
	is_str(values(&h), "0 2 4", "the odd ones are gone");

	/* delete every node: the list ends empty */
	seen = 0;
	list_for_each_safe(pos, tmp, &h) {
		list_del(pos);
		seen++;
	}
	ok(seen == 3 && list_empty(&h), "deleting every node while walking");
	ok(!list_linked(&it[0].node) && !list_linked(&it[4].node), "all unlinked");
}

int main(void)
{
	test_container_of();
	test_add_del();
	test_pop();
	test_for_each_safe();
	return done_testing();
}
