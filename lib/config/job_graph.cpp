#include "config/job_graph.h"

#include <string_view>
#include <unordered_map>
#include <utility>

#include "config/spelling.h"

namespace config {
namespace {

YAML::Mark ItemMark(const JobLinks& job, std::size_t index) {
  if (index < job.item_marks.size()) return job.item_marks[index];
  return job.after_mark;
}

std::string ItemPath(const JobLinks& job, std::size_t index) {
  return job.Path() + "[" + std::to_string(index) + "]";
}

}  // namespace

void CheckJobLinks(const std::vector<JobConfig>& all, const std::vector<JobLinks>& links,
                   const ConfigSource& source) {
  if (links.empty()) return;
  std::unordered_map<std::string_view, std::size_t> index_of;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < all.size(); ++i) {
    // A duplicate name was reported already; links go to the first.
    if (index_of.emplace(all[i].name, i).second) names.push_back(all[i].name);
  }
  // The links of each job, if it has any.
  std::vector<const JobLinks*> links_of(all.size(), nullptr);
  for (const JobLinks& job : links) {
    if (job.job < all.size()) links_of[job.job] = &job;
  }

  // edges[i]: (job index named, position in the after list)
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> edges(all.size());
  for (const JobLinks& job : links) {
    if (job.job >= all.size()) continue;
    for (std::size_t k = 0; k < job.after.size(); ++k) {
      const std::string& target = job.after[k];
      const auto found = index_of.find(target);
      if (found != index_of.end()) {
        edges[job.job].emplace_back(found->second, k);
        continue;
      }
      std::string message = "no job named '" + target + "'";
      if (std::optional<std::string> guess = ClosestMatch(target, names)) {
        message += " (did you mean '" + *guess + "'?)";
      }
      source.Report(ItemMark(job, k), ItemPath(job, k), std::move(message));
    }
  }

  // Iterative depth-first search; a link back to a job still on the path
  // closes a cycle. Iterative because generated configs chain thousands of
  // jobs.
  enum class State { kUnseen, kOnPath, kDone };
  std::vector<State> state(all.size(), State::kUnseen);
  struct Frame {
    std::size_t job;
    std::size_t next_edge;
  };
  for (std::size_t start = 0; start < all.size(); ++start) {
    if (state[start] != State::kUnseen) continue;
    std::vector<Frame> path{{start, 0}};
    state[start] = State::kOnPath;
    while (!path.empty()) {
      Frame& frame = path.back();
      if (frame.next_edge == edges[frame.job].size()) {
        state[frame.job] = State::kDone;
        path.pop_back();
        continue;
      }
      const auto [target, item] = edges[frame.job][frame.next_edge++];
      if (state[target] == State::kUnseen) {
        state[target] = State::kOnPath;
        path.push_back({target, 0});
      } else if (state[target] == State::kOnPath) {
        // The cycle runs from `target` down the path to this job and back;
        // name it starting at this job, where it is reported.
        std::size_t from = path.size() - 1;
        while (path[from].job != target) --from;
        std::string cycle = all[frame.job].name;
        for (std::size_t p = from; p < path.size(); ++p) cycle += " -> " + all[path[p].job].name;
        const JobLinks& job = *links_of[path.back().job];
        source.Report(ItemMark(job, item), ItemPath(job, item), "'after' forms a cycle: " + cycle);
      }
    }
  }
}

}  // namespace config
