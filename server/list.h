/* list.h - container_of and an intrusive doubly linked list, for every module.
 *
 * A structure that can be on a list embeds a struct list_node; the list is a struct
 * list_head (an empty one is made by list_init, or LIST_HEAD_INIT). Nodes are never
 * allocated by the list: their owner keeps them alive while they are linked. A node
 * that is not on a list has both links NULL (list_node_init, or zeroed memory), so
 * list_linked() tells whether it is on one and list_del() on an unlinked node does
 * nothing. Circular with a sentinel, as in libuv's queue.h and the Linux kernel: no
 * special case for the first or last element. Not thread-safe: one owner thread. */
#ifndef THREATBL_LIST_H
#define THREATBL_LIST_H

#include <stddef.h>

/* The structure of type `type` whose member `member` is at ptr. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct list_node {
	struct list_node *next, *prev;
};

struct list_head {
	struct list_node n; /* the sentinel: n.next is the first node, n.prev the last */
};

#define LIST_HEAD_INIT(name) { { &(name).n, &(name).n } }

static inline void list_init(struct list_head *h)
{
	h->n.next = h->n.prev = &h->n;
}

static inline void list_node_init(struct list_node *n)
{
	n->next = n->prev = NULL;
}

static inline int list_empty(const struct list_head *h)
{
	return h->n.next == &h->n;
}

static inline int list_linked(const struct list_node *n)
{
	return n->next != NULL;
}

static inline void list_insert_before_(struct list_node *n, struct list_node *at)
{
	n->next = at;
	n->prev = at->prev;
	at->prev->next = n;
	at->prev = n;
}

/* Append n at the tail (n must not be on a list). */
static inline void list_add_tail(struct list_head *h, struct list_node *n)
{
	list_insert_before_(n, &h->n);
}

/* Put n at the head (n must not be on a list). */
static inline void list_add_head(struct list_head *h, struct list_node *n)
{
	list_insert_before_(n, h->n.next);
}

/* Take n off its list; nothing when it is on none. */
static inline void list_del(struct list_node *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

/* The first node, or NULL when the list is empty. */
static inline struct list_node *list_first(const struct list_head *h)
{
	return list_empty(h) ? NULL : h->n.next;
}

/* The last node, or NULL when the list is empty. */
static inline struct list_node *list_last(const struct list_head *h)
{
	return list_empty(h) ? NULL : h->n.prev;
}

/* The node after n, or NULL at the end of h. */
static inline struct list_node *list_next(const struct list_head *h, const struct list_node *n)
{
	return n->next == &h->n ? NULL : n->next;
}

/* Take the first node off h and return it, or NULL when h is empty. */
static inline struct list_node *list_pop(struct list_head *h)
{
	struct list_node *n = list_first(h);

	if (n)
		list_del(n);
	return n;
}

/* Walk h; the body may list_del(pos) (tmp already holds the next node). */
#define list_for_each_safe(pos, tmp, h) \
	for ((pos) = (h)->n.next, (tmp) = (pos)->next; (pos) != &(h)->n; \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
