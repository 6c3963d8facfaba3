// The inventory index: items round trip, every filter operator (numbers compared as numbers),
// NotEqual as "has the type and no such entry", aggregation counting each node once per
// combination, replacing and removing items, and a fleet-sized load.
#include "services/ssm/inventory_index.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>

namespace gc::ssm::inventory {
namespace {

Item Apps(std::vector<std::pair<std::string, std::string>> apps) {
  Item item{"AWS:Application", "1.1", "2026-11-25T10:00:00Z", "hash", {}};
  for (auto& [n, v] : apps) item.entries.push_back({{"Name", n}, {"Version", v}});
  return item;
}

class InventoryIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_.Put("n1", Apps({{"bash", "5.2"}, {"curl", "7.88"}}));
    index_.Put("n2", Apps({{"bash", "5.1"}, {"nginx", "1.22"}, {"nginx-common", "1.22"}}));
    index_.Put("n3", Item{"AWS:Network", "1.0", "", "", {{{"Name", "eth0"}}}});
  }
  std::vector<std::string> Select(const std::string& attr, Op op,
                                  std::vector<std::string> values) {
    return index_.Select({"n1", "n2", "n3"}, {{"AWS:Application", attr, op, std::move(values)}});
  }
  InventoryIndex index_;
};

using Nodes = std::vector<std::string>;

TEST_F(InventoryIndexTest, ItemsRoundTrip) {
  auto item = index_.Get("n1", "AWS:Application");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->schema_version, "1.1");
  EXPECT_EQ(item->capture_time, "2026-11-25T10:00:00Z");
  ASSERT_EQ(item->entries.size(), 2u);
  EXPECT_EQ(item->entries[1], (Entry{{"Name", "curl"}, {"Version", "7.88"}}));
  EXPECT_FALSE(index_.Get("n3", "AWS:Application"));
  EXPECT_EQ(index_.TypesOf("n3"), (Nodes{"AWS:Network"}));
  index_.Touch("n1", "AWS:Application", "2026-11-25T11:00:00Z");
  EXPECT_EQ(index_.Get("n1", "AWS:Application")->capture_time, "2026-11-25T11:00:00Z");
}

TEST_F(InventoryIndexTest, Operators) {
  EXPECT_EQ(Select("Name", Op::kEqual, {"curl"}), (Nodes{"n1"}));
  EXPECT_EQ(Select("Name", Op::kEqual, {"curl", "nginx"}), (Nodes{"n1", "n2"}));
  EXPECT_EQ(Select("Name", Op::kEqual, {"never-seen"}), Nodes{});
  EXPECT_EQ(Select("Name", Op::kNotEqual, {"curl"}), (Nodes{"n2"}));  // n3 has no apps
  EXPECT_EQ(Select("Name", Op::kBeginWith, {"ngi"}), (Nodes{"n2"}));
  EXPECT_EQ(Select("Version", Op::kLessThan, {"5.15"}), (Nodes{"n2"}));  // 1.22, 5.1 (numbers)
  EXPECT_EQ(Select("Version", Op::kGreaterThan, {"7"}), (Nodes{"n1"}));
  EXPECT_EQ(Select("Name", Op::kExists, {}), (Nodes{"n1", "n2"}));
  EXPECT_EQ(Select("Publisher", Op::kExists, {}), Nodes{});
  // Every condition must hold.
  EXPECT_EQ(index_.Select({"n1", "n2"}, {{"AWS:Application", "Name", Op::kEqual, {"bash"}},
                                         {"AWS:Application", "Version", Op::kEqual, {"5.1"}}}),
            (Nodes{"n2"}));
  EXPECT_TRUE(EntryMatches({{"A", "10"}}, {"T", "A", Op::kGreaterThan, {"9"}}));
  EXPECT_FALSE(EntryMatches({{"A", "10"}}, {"T", "A", Op::kGreaterThan, {"9x"}}));  // as text
  EXPECT_TRUE(EntryMatches({{"A", "x"}}, {"T", "B", Op::kNotEqual, {"x"}}));
}

TEST_F(InventoryIndexTest, AggregationCountsNodes) {
  auto counts = index_.Aggregate({"n1", "n2", "n3"}, "AWS:Application", {"Name"});
  EXPECT_EQ(counts[{"bash"}], 2);
  EXPECT_EQ(counts[{"nginx"}], 1);
  EXPECT_EQ(counts.size(), 4u);
  // A node with the same value twice counts once.
  index_.Put("n4", Apps({{"bash", "5.2"}, {"bash", "5.2"}}));
  counts = index_.Aggregate({"n1", "n4"}, "AWS:Application", {"Name", "Version"});
  EXPECT_EQ((counts[{"bash", "5.2"}]), 2);
}

TEST_F(InventoryIndexTest, ReplaceAndRemove) {
  index_.Put("n1", Apps({{"zsh", "5.9"}}));
  EXPECT_EQ(Select("Name", Op::kEqual, {"curl"}), Nodes{});
  EXPECT_EQ(Select("Name", Op::kEqual, {"zsh"}), (Nodes{"n1"}));
  index_.Remove("n1", "AWS:Application");
  EXPECT_FALSE(index_.Get("n1", "AWS:Application"));
  EXPECT_EQ(index_.RemoveType("AWS:Application"), 1);
  index_.RemoveNode("n3");
  EXPECT_TRUE(index_.Types().empty());
}

// 2,000 nodes × 500 applications: a filter over all of them stays fast (the bench does 10,000).
TEST(InventoryIndexLoad, FilterOverAFleet) {
  InventoryIndex index;
  std::vector<std::string> nodes;
  for (int n = 0; n < 2000; ++n) {
    Item item{"AWS:Application", "1.1", "", "", {}};
    for (int a = 0; a < 500; ++a) {
      item.entries.push_back({{"Name", fmt::format("pkg{}", a)},
                              {"Version", fmt::format("1.{}", (a + n) % 7)},
                              {"Architecture", "x86_64"},
                              {"Publisher", "Debian"}});
    }
    nodes.push_back(fmt::format("mi-{:017}", n));
    index.Put(nodes.back(), item);
  }
  auto start = std::chrono::steady_clock::now();
  auto found = index.Select(nodes, {{"AWS:Application", "Name", Op::kEqual, {"pkg499"}},
                                    {"AWS:Application", "Version", Op::kEqual, {"1.3"}}});
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
  EXPECT_EQ(found.size(), 2000u);  // every node has pkg499 and some package at 1.3
  EXPECT_LT(ms, 2000.0);           // generous: sanitizer builds are slow
  auto counts = index.Aggregate(nodes, "AWS:Application", {"Version"});
  EXPECT_EQ(counts.size(), 7u);
  EXPECT_EQ((counts[{"1.0"}]), 2000);
}

}  // namespace
}  // namespace gc::ssm::inventory
