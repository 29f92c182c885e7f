/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API surface baton uses beyond the in-tree `kernel` crate.
 * bindgen reads this header (see Kbuild) with an allowlist and
 * --no-recursive-allowlist, so types such as sk_buff and net_device stay the
 * in-tree `kernel::bindings` ones.  The baton_* prototypes are one-line shims
 * over static inline functions and macros, defined in shims.c.
 */
#ifndef BATON_HELPER_H
#define BATON_HELPER_H

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/percpu.h>
#include <linux/cpumask.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <kunit/test.h>
#include <kunit/static_stub.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/ip.h>
#include <net/route.h>
#include <net/inet_hashtables.h>
#include <net/request_sock.h>
#include <linux/sched/loadavg.h>
#include <linux/inetdevice.h>

/* sk_buff */
bool baton_pskb_may_pull(struct sk_buff *skb, unsigned int len);
unsigned int baton_skb_headlen(const struct sk_buff *skb);
int baton_skb_network_offset(const struct sk_buff *skb);
unsigned char *baton_skb_mac_header(const struct sk_buff *skb);
bool baton_skb_mac_header_was_set(const struct sk_buff *skb);
void baton_kfree_skb(struct sk_buff *skb);
void baton_consume_skb(struct sk_buff *skb);
struct sk_buff *baton_skb_share_check(struct sk_buff *skb);
u16 baton_skb_protocol(const struct sk_buff *skb);
int baton_skb_ifindex(const struct sk_buff *skb);
struct net *baton_skb_dev_net(const struct sk_buff *skb);
int baton_skb_mac_header_len(const struct sk_buff *skb);

/* building and sending frames */
struct sk_buff *baton_alloc_skb(unsigned int len);
unsigned char *baton_skb_put(struct sk_buff *skb, unsigned int len);
unsigned int baton_skb_tailroom(const struct sk_buff *skb);
void baton_skb_prepare_xmit(struct sk_buff *skb, struct net_device *dev);
int baton_dev_queue_xmit(struct sk_buff *skb);
struct net_device *baton_skb_dev(const struct sk_buff *skb);

/* net_device references */
void baton_dev_hold(struct net_device *dev);
void baton_dev_put(struct net_device *dev);
struct net *baton_dev_net(const struct net_device *dev);
int baton_dev_ifindex(const struct net_device *dev);
unsigned int baton_dev_mtu(const struct net_device *dev);
bool baton_dev_is_registered(const struct net_device *dev);
struct net_device *baton_notifier_info_to_dev(void *ptr);

/* timers and time */
void baton_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *));
unsigned long baton_jiffies(void);
unsigned long baton_msecs_to_jiffies(unsigned int ms);
u64 baton_boottime_secs(void);
u32 baton_boottime_ms(void);
u64 baton_realtime_ms(void);

/* delayed work on the system workqueue */
void baton_init_delayed_work(struct delayed_work *dwork, void (*fn)(struct work_struct *));
bool baton_mod_delayed_work(struct delayed_work *dwork, unsigned long delay);

/* per-CPU counters */
void __percpu *baton_alloc_percpu(size_t size, size_t align);
void baton_pcpu_add(u64 __percpu *base, unsigned int idx, u64 val);
u64 *baton_per_cpu_ptr(u64 __percpu *base, unsigned int cpu);
bool baton_cpu_possible(unsigned int cpu);
unsigned int baton_nr_cpu_ids(void);

/* generic netlink */
struct sk_buff *baton_genlmsg_new(void);
void *baton_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info, const struct genl_family *family, int flags, u8 cmd);
void *baton_genlmsg_put_dump(struct sk_buff *skb, struct netlink_callback *cb, const struct genl_family *family, u8 cmd);
void baton_genlmsg_end(struct sk_buff *skb, void *hdr);
void baton_genlmsg_cancel(struct sk_buff *skb, void *hdr);
int baton_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
void baton_nlmsg_free(struct sk_buff *skb);
struct nlattr *baton_nla_nest_start(struct sk_buff *skb, int attrtype);
void baton_nla_nest_end(struct sk_buff *skb, struct nlattr *start);
void *baton_nla_reserve(struct sk_buff *skb, int attrtype, int attrlen);
const struct genl_info *baton_genl_info_dump(struct netlink_callback *cb);
struct net *baton_genl_info_net(const struct genl_info *info);
void baton_extack_set(struct netlink_ext_ack *extack, const char *msg, const struct nlattr *attr);
struct net *baton_cb_net(struct netlink_callback *cb);
unsigned int baton_skb_len(const struct sk_buff *skb);

/* RCU */
void baton_rcu_read_lock(void);
void baton_rcu_read_unlock(void);

/* network namespaces */
void *baton_net_generic(const struct net *net, unsigned int id);

/* KUnit */
void baton_kunit_set_failure(struct kunit *test);
void baton_kunit_fail_pulls_over(struct kunit *test, unsigned int limit);
void baton_kunit_fail_skb_allocs(struct kunit *test, bool fail);
struct socket *baton_kunit_listen(struct net *net, u16 port);
void baton_kunit_sock_release(struct socket *sock);
__be32 baton_kunit_dev_addr(struct net_device *dev);


/* receiving a packet we built, forwarding a received one */
void baton_skb_reserve(struct sk_buff *skb, int len);
void baton_skb_prepare_rx(struct sk_buff *skb, struct net_device *dev);
unsigned char *baton_skb_push(struct sk_buff *skb, unsigned int len);
void baton_skb_set_dev(struct sk_buff *skb, struct net_device *dev);
void baton_skb_scrub_forward(struct sk_buff *skb);
const unsigned char *baton_dev_addr(const struct net_device *dev);
void baton_skb_set_protocol(struct sk_buff *skb, u16 proto);
void baton_skb_prepare_out(struct sk_buff *skb);
struct dst_entry *baton_ip_route_output(struct net *net, __be32 daddr, __be32 saddr);
void baton_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst);
int baton_ip_local_out(struct net *net, struct sk_buff *skb);
struct sock *baton_skb_sk(const struct sk_buff *skb);
bool baton_skb_csum_unnecessary(const struct sk_buff *skb);

/*
 * Rebuilding a TCP socket through the request-sock path that
 * bpf_sk_assign_tcp_reqsk() uses (net/core/filter.c): the setters below are
 * plain stores into inet_request_sock/tcp_request_sock bitfields, which
 * bindgen cannot express; the order and checks live in Rust (wrap/tcp.rs).
 */
struct sock *baton_tcp_listener(struct net *net, struct sk_buff *skb, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport, int dif);
struct sock *baton_tcp_established(struct net *net, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport, int dif);
bool baton_sk_is_mptcp(const struct sock *sk);
bool baton_sk_time_wait(const struct sock *sk);
u32 baton_tw_rcv_nxt(const struct sock *sk);
bool baton_tw_ts_recent(const struct sock *sk, u32 *ts_recent);
void baton_tw_kill(struct sock *sk);
struct request_sock *baton_reqsk_alloc(struct sock *listener);
void baton_reqsk_set_listener(struct request_sock *req, struct sock *listener);
void baton_reqsk_set_mss(struct request_sock *req, u16 mss);
void baton_reqsk_set_ts(struct request_sock *req, u32 ts_recent, u32 ts_off);
void baton_ireq_set_wscale(struct request_sock *req, bool ok, u8 snd, u8 rcv);
void baton_ireq_set_flags(struct request_sock *req, bool tstamp_ok, bool sack_ok, bool ecn_ok);
void baton_skb_set_reqsk(struct sk_buff *skb, struct request_sock *req);
void baton_reqsk_free(struct request_sock *req);
u32 baton_tcp_ts_now(void);
int baton_sysctl_tcp_syncookies(const struct net *net);
int baton_sysctl_tcp_timestamps(const struct net *net);
int baton_sysctl_tcp_sack(const struct net *net);
int baton_sysctl_tcp_window_scaling(const struct net *net);

/* load announced on the sync network */
unsigned long baton_loadavg_1min(void);
unsigned int baton_num_online_cpus(void);
u32 baton_sk_ack_backlog(const struct sock *sk);
u32 baton_sk_max_ack_backlog(const struct sock *sk);

/* spinlocks shared with softirq context */
void baton_local_bh_disable(void);
void baton_local_bh_enable(void);

#endif
