#include "agent/job.h"

namespace gc::agent {

std::string RunJob(const CommandPlan& plan, const PluginContext& base, CancelToken& cancel,
                   const ReplySender& send) {
  const std::vector<PluginResult> done =
      RunSteps(plan.steps, base, cancel, [&](const std::vector<PluginResult>& so_far) {
        send(PluginDonePayload(so_far, base.clock->NowMillis()));
      });
  std::string payload = FinalPayload(done, base.clock->NowMillis());
  std::vector<std::string> statuses;
  for (const auto& r : done) statuses.push_back(r.status);
  send(std::move(payload));
  return AggregateStatus(statuses);
}

}  // namespace gc::agent
