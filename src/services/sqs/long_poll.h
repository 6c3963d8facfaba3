// LongPoll moved to common/long_poll.h (shared with ec2messages GetMessages); SQS keeps its names.
#pragma once

#include "common/long_poll.h"
#include "common/worker_pool.h"

namespace gc::sqs {
using gc::LongPoll;
using gc::WorkerPool;
}  // namespace gc::sqs
