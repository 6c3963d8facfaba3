#include "agent/job.h"

#include "agent/files.h"

namespace gc::agent {

std::string RunJob(const CommandPlan& plan, const PluginContext& base, CancelToken& cancel,
                   const ReplySender& send) {
  std::vector<PluginResult> done;
  bool stop = false;
  for (const Step& step : plan.steps) {
    PluginContext ctx = base;
    ctx.orchestration_dir = base.orchestration_dir + "/" + SafeFileName(step.id);
    PluginResult r;
    if (stop) {
      r.id = step.id;
      r.name = step.action;
      r.status = std::string(status::kSkipped);
      r.stdout_text = "Step execution skipped: a previous step failed and has onFailure: exit.";
      r.start_millis = r.end_millis = base.clock->NowMillis();
    } else {
      r = RunStep(step, ctx, cancel);
    }
    if (r.status == status::kFailed && step.on_failure == "exit") stop = true;
    done.push_back(std::move(r));
    send(PluginDonePayload(done, base.clock->NowMillis()));
  }
  std::string payload = FinalPayload(done, base.clock->NowMillis());
  std::vector<std::string> statuses;
  for (const auto& r : done) statuses.push_back(r.status);
  send(std::move(payload));
  return AggregateStatus(statuses);
}

}  // namespace gc::agent
