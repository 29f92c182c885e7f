// SPDX-License-Identifier: GPL-2.0
/*
 * One-line shims over static inline functions and macros that bindgen cannot
 * see.  No logic lives here: every function forwards to exactly one kernel
 * helper.  Prototypes are in baton_helper.h.
 */
#include "baton_helper.h"

bool baton_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }
unsigned int baton_skb_headlen(const struct sk_buff *skb) { return skb_headlen(skb); }
int baton_skb_network_offset(const struct sk_buff *skb) { return skb_network_offset(skb); }
unsigned char *baton_skb_mac_header(const struct sk_buff *skb) { return skb_mac_header(skb); }
bool baton_skb_mac_header_was_set(const struct sk_buff *skb) { return skb_mac_header_was_set(skb); }
void baton_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void baton_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
struct sk_buff *baton_skb_share_check(struct sk_buff *skb) { return skb_share_check(skb, GFP_ATOMIC); }
u16 baton_skb_protocol(const struct sk_buff *skb) { return (__force u16)skb->protocol; }
int baton_skb_ifindex(const struct sk_buff *skb) { return skb->dev ? skb->dev->ifindex : 0; }
int baton_skb_mac_header_len(const struct sk_buff *skb) { return skb_mac_header_len(skb); }

void baton_dev_hold(struct net_device *dev) { dev_hold(dev); }
void baton_dev_put(struct net_device *dev) { dev_put(dev); }
struct net *baton_dev_net(const struct net_device *dev) { return dev_net(dev); }
int baton_dev_ifindex(const struct net_device *dev) { return dev->ifindex; }

void baton_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *)) { timer_setup(timer, fn, 0); }
unsigned long baton_jiffies(void) { return jiffies; }
unsigned long baton_msecs_to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }

void __percpu *baton_alloc_percpu(size_t size, size_t align) { return __alloc_percpu(size, align); }
void baton_pcpu_add(u64 __percpu *base, unsigned int idx, u64 val) { this_cpu_add(base[idx], val); }
u64 *baton_per_cpu_ptr(u64 __percpu *base, unsigned int cpu) { return per_cpu_ptr(base, cpu); }
bool baton_cpu_possible(unsigned int cpu) { return cpu_possible(cpu); }
unsigned int baton_nr_cpu_ids(void) { return nr_cpu_ids; }

#if IS_ENABLED(CONFIG_KUNIT)
void baton_kunit_set_failure(struct kunit *test) { kunit_set_failure(test); }
#endif
