// Topic trie per tenant. Levels are split on '/', '+' and '#' are children with
// their own slots so matching a topic visits at most two branches per level
// (exact + '+') and collects '#' subscribers on the way (§4.7.1.2: "a/#" also
// matches "a").

#include "router.hpp"

#include <algorithm>
#include <atomic>

namespace portcullis::broker {

struct router::node {
  std::map<std::string, std::unique_ptr<node>, std::less<>> children;
  std::unique_ptr<node> plus;
  std::unique_ptr<node> hash;
  std::vector<route_target> subscribers;

  bool empty() const { return children.empty() && !plus && !hash && subscribers.empty(); }
};

struct router::tenant_trie {
  mutable std::shared_mutex mutex;
  node root;
  std::size_t count = 0;
};

namespace {

template <class F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      f(s.substr(start), true);
      return;
    }
    f(s.substr(start, slash - start), false);
    start = slash + 1;
  }
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> levels;
  for_each_level(s, [&](std::string_view level, bool) { levels.push_back(level); });
  return levels;
}

}  // namespace

router::router() = default;
router::~router() = default;

router::tenant_trie* router::find(const std::string& tenant) const {
  std::shared_lock lock(tenants_mutex_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : it->second.get();
}

router::tenant_trie& router::get_or_create(const std::string& tenant) {
  if (auto* t = find(tenant)) return *t;
  std::unique_lock lock(tenants_mutex_);
  auto& slot = tenants_[tenant];
  if (!slot) slot = std::make_unique<tenant_trie>();
  return *slot;  // tries are never removed, so the reference stays valid
}

void router::subscribe(const std::string& tenant, std::string_view filter, session* s, std::uint8_t qos) {
  tenant_trie& t = get_or_create(tenant);
  std::unique_lock lock(t.mutex);
  node* n = &t.root;
  for (std::string_view level : split(filter)) {
    std::unique_ptr<node>* next;
    if (level == "+") {
      next = &n->plus;
    } else if (level == "#") {
      next = &n->hash;
    } else {
      auto it = n->children.find(level);
      if (it == n->children.end()) it = n->children.emplace(std::string(level), nullptr).first;
      next = &it->second;
    }
    if (!*next) *next = std::make_unique<node>();
    n = next->get();
  }
  for (auto& sub : n->subscribers) {
    if (sub.target == s) {
      sub.qos = qos;
      return;
    }
  }
  n->subscribers.push_back({s, qos});
  ++t.count;
}

bool router::unsubscribe(const std::string& tenant, std::string_view filter, session* s) {
  tenant_trie* t = find(tenant);
  if (!t) return false;
  std::unique_lock lock(t->mutex);
  // Walk down remembering the path so emptied nodes can be pruned.
  std::vector<std::pair<node*, std::string_view>> path;
  node* n = &t->root;
  for (std::string_view level : split(filter)) {
    node* next = nullptr;
    if (level == "+") {
      next = n->plus.get();
    } else if (level == "#") {
      next = n->hash.get();
    } else {
      auto it = n->children.find(level);
      if (it != n->children.end()) next = it->second.get();
    }
    if (!next) return false;
    path.emplace_back(n, level);
    n = next;
  }
  auto it = std::find_if(n->subscribers.begin(), n->subscribers.end(), [&](auto& r) { return r.target == s; });
  if (it == n->subscribers.end()) return false;
  n->subscribers.erase(it);
  --t->count;
  // Prune empty nodes bottom-up so churn of unique topics does not grow the trie.
  for (auto p = path.rbegin(); p != path.rend(); ++p) {
    node* parent = p->first;
    std::string_view level = p->second;
    std::unique_ptr<node>* child;
    std::map<std::string, std::unique_ptr<node>, std::less<>>::iterator cit;
    if (level == "+") {
      child = &parent->plus;
    } else if (level == "#") {
      child = &parent->hash;
    } else {
      cit = parent->children.find(level);
      child = &cit->second;
    }
    if (!(*child)->empty()) break;
    if (level == "+" || level == "#") {
      child->reset();
    } else {
      parent->children.erase(cit);
    }
  }
  return true;
}

std::size_t router::route(const std::string& tenant, std::string_view topic, std::vector<route_target>& scratch,
                          function_ref<void(session&, std::uint8_t)> deliver,
                          function_ref<void(const std::vector<route_target>&)> before) const {
  tenant_trie* t = find(tenant);
  if (!t) return 0;
  std::shared_lock lock(t->mutex);
  scratch.clear();
  // Breadth-first over the levels; `frontier` holds the nodes matching the prefix.
  thread_local std::vector<const node*> frontier, next;
  frontier.clear();
  frontier.push_back(&t->root);
  auto add_all = [&](const node* n) { scratch.insert(scratch.end(), n->subscribers.begin(), n->subscribers.end()); };
  for_each_level(topic, [&](std::string_view level, bool last) {
    next.clear();
    for (const node* n : frontier) {
      if (n->hash) add_all(n->hash.get());
      auto it = n->children.find(level);
      if (it != n->children.end()) next.push_back(it->second.get());
      if (n->plus) next.push_back(n->plus.get());
    }
    frontier.swap(next);
    if (last) {
      for (const node* n : frontier) {
        add_all(n);
        if (n->hash) add_all(n->hash.get());  // "a/#" matches "a"
      }
    }
  });
  if (scratch.size() > 1) {
    // Once per session, at the highest QoS of its matching subscriptions.
    std::sort(scratch.begin(), scratch.end(), [](const route_target& a, const route_target& b) {
      return a.target != b.target ? a.target < b.target : a.qos > b.qos;
    });
    scratch.erase(std::unique(scratch.begin(), scratch.end(),
                              [](const route_target& a, const route_target& b) { return a.target == b.target; }),
                  scratch.end());
  }
  if (before && !scratch.empty()) before(scratch);
  for (const auto& r : scratch) deliver(*r.target, r.qos);
  return scratch.size();
}

std::size_t router::subscription_count() const {
  std::shared_lock lock(tenants_mutex_);
  std::size_t n = 0;
  for (const auto& [name, t] : tenants_) {
    std::shared_lock tl(t->mutex);
    n += t->count;
  }
  return n;
}

}  // namespace portcullis::broker
