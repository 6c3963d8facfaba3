// RunJob: one sendCommand run from start to end (AGENT_PROTOCOL §2.3 step 5): each step in order
// (RunSteps), a reply after each plugin (§2.5b) and a final reply with the aggregate status
// (§2.5c). A cancelled job marks the running and the remaining plugins Cancelled; a step with
// onFailure "exit" that fails stops the document (the rest are Skipped).
// Thread-safe: runs on the job's own thread; `send` must be thread-safe.
#pragma once

#include <functional>
#include <string>

#include "agent/document.h"
#include "agent/plugins.h"
#include "agent/process.h"

namespace gc::agent {

// Receives each reply payload (serialised JSON) in order.
using ReplySender = std::function<void(std::string payload)>;

// `base` is the context shared by every step; each step gets
// base.orchestration_dir + "/" + SafeFileName(step id). Returns the final document status.
std::string RunJob(const CommandPlan& plan, const PluginContext& base, CancelToken& cancel,
                   const ReplySender& send);

}  // namespace gc::agent
