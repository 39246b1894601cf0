package interaction

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func in(startMS, endMS int64, text string) Sentence {
	return Sentence{StartMS: startMS, EndMS: endMS, Side: SideInternal, Text: text}
}

func ex(startMS, endMS int64, text string) Sentence {
	return Sentence{StartMS: startMS, EndMS: endMS, Side: SideExternal, Text: text}
}

// numbered gives the sentences seq 1, 2, … in the order written.
func numbered(ss ...Sentence) []Sentence {
	for i := range ss {
		ss[i].Seq = i + 1
	}
	return ss
}

// Long enough (≥ 3 tokens) and, in these tests, long enough in time (≥ 1000 ms)
// not to be back-channels; none of them is a question.
const (
	zhPlan     = "我们聊一下方案" // 7 tokens
	zhDiscount = "我们可以给折扣" // 7 tokens
	zhExcel    = "我们用的是表格" // 7 tokens
	enPrice    = "the price is too high"
	enThink    = "let me think about it"
)

func TestComputeMetrics(t *testing.T) {
	tests := []struct {
		name       string
		durationMS int64
		sentences  []Sentence
		want       Metrics
	}{
		{
			name: "empty",
			want: Metrics{AlgoVersion: AlgoVersion},
		},
		{
			// Nobody speaks: every ratio is 0 and the whole call is silence.
			name:       "empty call with a duration",
			durationMS: 60_000,
			want:       Metrics{AlgoVersion: AlgoVersion, SilenceMS: 60_000},
		},
		{
			// internal = 10000 + 8000 = 18000, external 0, talk ratio 18000/18000 = 1.
			// The 2000 ms gap (≥ 1500) starts a second internal turn, which is not a
			// switch: turns I[0,10000] I[12000,20000], monologue max(10000, 8000).
			// silence = 30000 - 18000 = 12000.
			name:       "one side only, gap of 2000 ms splits the turn",
			durationMS: 30_000,
			sentences: numbered(
				in(0, 10_000, zhPlan),
				in(12_000, 20_000, zhPlan),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 10_000,
				SilenceMS: 12_000, InternalSpeechMS: 18_000, SpeechMS: 18_000,
			},
		},
		{
			// internal = 10000 + 5000 = 15000; external = 10000 + 10000 = 20000;
			// speech = 35000; talk ratio = 15000/35000 = 3/7.
			// Turns I E I E: 3 switches in 35000 ms = 3 × 60000/35000 = 36/7 per minute.
			// Patience: E ends 21000, I starts 22000 → 1000; the last E has no reply.
			// silence = 60000 - 35000 = 25000.
			name:       "simple alternation",
			durationMS: 60_000,
			sentences: numbered(
				in(0, 10_000, zhPlan),
				ex(11_000, 21_000, enPrice),
				in(22_000, 27_000, zhDiscount),
				ex(30_000, 40_000, enThink),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 3.0 / 7, LongestMonologueMS: 10_000,
				LongestCustomerStoryMS: 10_000, Interactivity: 36.0 / 7, PatienceMS: 1000,
				SilenceMS: 25_000, InternalSpeechMS: 15_000, ExternalSpeechMS: 20_000,
				SpeechMS: 35_000,
			},
		},
		{
			// The same call given in reverse order, with seq numbers that disagree
			// with time: the result must not change.
			name:       "unordered input",
			durationMS: 60_000,
			sentences: []Sentence{
				{Seq: 1, StartMS: 30_000, EndMS: 40_000, Side: SideExternal, Text: enThink},
				{Seq: 2, StartMS: 22_000, EndMS: 27_000, Side: SideInternal, Text: zhDiscount},
				{Seq: 3, StartMS: 11_000, EndMS: 21_000, Side: SideExternal, Text: enPrice},
				{Seq: 4, StartMS: 0, EndMS: 10_000, Side: SideInternal, Text: zhPlan},
			},
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 3.0 / 7, LongestMonologueMS: 10_000,
				LongestCustomerStoryMS: 10_000, Interactivity: 36.0 / 7, PatienceMS: 1000,
				SilenceMS: 25_000, InternalSpeechMS: 15_000, ExternalSpeechMS: 20_000,
				SpeechMS: 35_000,
			},
		},
		{
			// Internal [0,5000] ∪ [3000,8000] ∪ [4000,6000] = [0,8000] = 8000 (not
			// 10000); external 3000; speech = 11000; talk ratio = 8000/11000 = 8/11.
			// Turns I[0,8000] (the last sentence, [4000,6000], does not shorten it)
			// E[9000,12000]: 1 switch, 60000/11000 = 60/11 per minute.
			// No internal turn after the external one: patience 0.
			// silence = 12000 - 11000 = 1000.
			name:       "overlaps within a side count once",
			durationMS: 12_000,
			sentences: numbered(
				in(0, 5000, zhPlan),
				in(3000, 8000, zhDiscount),
				in(4000, 6000, "嗯对对"),
				ex(9000, 12_000, enPrice),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 8.0 / 11, LongestMonologueMS: 8000,
				LongestCustomerStoryMS: 3000, Interactivity: 60.0 / 11, SilenceMS: 1000,
				InternalSpeechMS: 8000, ExternalSpeechMS: 3000, SpeechMS: 11_000,
			},
		},
		{
			// external = 10000 + 4000 = 14000; internal = 6000 + 4000 = 10000;
			// speech = [0,15000] + [16000,20000] + [21000,25000] = 23000, while
			// internal + external = 24000: the 1000 ms of cross-talk count for both
			// sides in the ratio, once in speech. talk ratio = 10000/24000 = 5/12.
			// Turns E I E I: 3 switches, 3 × 60000/23000 = 180/23 per minute.
			// Patience: the first reply overlaps (9000 - 10000 < 0 → 0), the second
			// waits 21000 - 20000 = 1000; mean (0 + 1000)/2 = 500.
			// silence = 25000 - 23000 = 2000.
			name:       "overlap across sides counts as patience 0",
			durationMS: 25_000,
			sentences: numbered(
				ex(0, 10_000, enPrice),
				in(9000, 15_000, zhDiscount),
				ex(16_000, 20_000, enThink),
				in(21_000, 25_000, zhPlan),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 5.0 / 12, LongestMonologueMS: 6000,
				LongestCustomerStoryMS: 10_000, Interactivity: 180.0 / 23, PatienceMS: 500,
				SilenceMS: 2000, InternalSpeechMS: 10_000, ExternalSpeechMS: 14_000,
				SpeechMS: 23_000,
			},
		},
		{
			// Gap 5400 - 4000 = 1400 < 1500: one internal turn [0,9000] = 9000.
			// internal = 4000 + 3600 = 7600; external 2500; speech 10100;
			// talk ratio = 7600/10100 = 76/101; 1 switch → 60000/10100 = 600/101.
			// silence = 12000 - 10100 = 1900.
			name:       "gap of 1400 ms does not split a turn",
			durationMS: 12_000,
			sentences: numbered(
				in(0, 4000, zhPlan),
				in(5400, 9000, zhDiscount),
				ex(9500, 12_000, enPrice),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 76.0 / 101, LongestMonologueMS: 9000,
				LongestCustomerStoryMS: 2500, Interactivity: 600.0 / 101, SilenceMS: 1900,
				InternalSpeechMS: 7600, ExternalSpeechMS: 2500, SpeechMS: 10_100,
			},
		},
		{
			// Gap 5500 - 4000 = 1500, not < 1500: turns I[0,4000] I[5500,9000]
			// E[9500,12000]; monologue max(4000, 3500) = 4000; I→I is no switch, so
			// 1 switch. internal = 4000 + 3500 = 7500; external 2500; speech 10000;
			// talk ratio 0.75; 60000/10000 = 6 per minute; silence 12000 - 10000.
			name:       "gap of exactly 1500 ms splits a turn",
			durationMS: 12_000,
			sentences: numbered(
				in(0, 4000, zhPlan),
				in(5500, 9000, zhDiscount),
				ex(9500, 12_000, enPrice),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 0.75, LongestMonologueMS: 4000,
				LongestCustomerStoryMS: 2500, Interactivity: 6, SilenceMS: 2000,
				InternalSpeechMS: 7500, ExternalSpeechMS: 2500, SpeechMS: 10_000,
			},
		},
		{
			// 嗯 (400 ms), 对 (700 ms), 好的 (2 tokens) and 嗯嗯 (600 ms) are
			// back-channels; 是的是的 is 4 tokens and 1500 ms long, so it is not.
			// internal = 8000 + 6000 + 4500 + 2500 = 21000;
			// external = 400 + 700 + 1500 + 1500 + 600 = 4700;
			// speech = 8000 (嗯 inside) + 700 + 6000 (好的 inside) + 4500 + 1500
			//          + 2500 + 600 = 23800;
			// talk ratio = 21000/25700 = 210/257.
			// Turns: I[0,20000] (gaps 1000 and 500, back-channels spanned), then
			// 是的是的 E[20500,22000], then I[22500,25000]; 嗯嗯 starts nothing.
			// 2 switches → 2 × 60000/23800 = 600/119 per minute.
			// Patience 22500 - 22000 = 500; silence = 30000 - 23800 = 6200.
			name:       "Chinese back-channels do not split an internal turn",
			durationMS: 30_000,
			sentences: numbered(
				in(0, 8000, "我们的方案包括三个部分"),
				ex(3000, 3400, "嗯"),
				ex(8200, 8900, "对"),
				in(9000, 15_000, "第一部分是数据接入"),
				ex(12_000, 13_500, "好的"),
				in(15_500, 20_000, "第二部分是分析报表"),
				ex(20_500, 22_000, "是的是的"),
				in(22_500, 25_000, "第三部分是教练功能"),
				ex(25_200, 25_800, "嗯嗯"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 210.0 / 257, LongestMonologueMS: 20_000,
				LongestCustomerStoryMS: 1500, Interactivity: 600.0 / 119, PatienceMS: 500,
				SilenceMS: 6200, InternalSpeechMS: 21_000, ExternalSpeechMS: 4700,
				SpeechMS: 23_800,
			},
		},
		{
			// "ok" (300 ms) and "yeah sure" (1200 ms, 2 tokens) are back-channels.
			// internal = 300 + 1200 + 5000 = 6500; external = 6000 + 5000 = 11000;
			// speech = [0,6000] + [6200,12000] + [13000,18000] = 6000 + 5800 + 5000
			//        = 16800; talk ratio = 6500/17500 = 13/35.
			// Turns: E[0,12000] (gap 7000 - 6000 = 1000), I[13000,18000]:
			// 1 switch → 60000/16800 = 25/7 per minute; patience 13000 - 12000.
			// silence = 20000 - 16800 = 3200.
			name:       "English back-channels do not split an external turn",
			durationMS: 20_000,
			sentences: numbered(
				ex(0, 6000, "we have been using another tool for years"),
				in(2000, 2300, "ok"),
				in(6200, 7400, "yeah sure"),
				ex(7000, 12_000, "but the reporting is really slow"),
				in(13_000, 18_000, "our reports load in under a second"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 13.0 / 35, LongestMonologueMS: 5000,
				LongestCustomerStoryMS: 12_000, Interactivity: 25.0 / 7, PatienceMS: 1000,
				SilenceMS: 3200, InternalSpeechMS: 6500, ExternalSpeechMS: 11_000,
				SpeechMS: 16_800,
			},
		},
		{
			// 你好 (2 tokens, 600 ms) opens the call: with no turn open there is
			// no other side for it to be a back-channel of, so it is the
			// customer's first turn, and the rep answers it (patience 200).
			// internal 9200; external = 600 + 4500 = 5100;
			// speech = 600 + 9200 + 4500 = 14300; talk ratio = 9200/14300 = 92/143.
			// Turns E[0,600] I[800,10000] E[10500,15000]: 2 switches →
			// 1200/143 per minute. silence = 15000 - 14300 = 700.
			name:       "a short sentence with no turn open starts one",
			durationMS: 15_000,
			sentences: numbered(
				ex(0, 600, "你好"),
				in(800, 10_000, "您好我是销售顾问小王"),
				ex(10_500, 15_000, "我想了解一下价格"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 92.0 / 143, LongestMonologueMS: 9200,
				LongestCustomerStoryMS: 4500, Interactivity: 1200.0 / 143, PatienceMS: 200, SilenceMS: 700,
				InternalSpeechMS: 9200, ExternalSpeechMS: 5100, SpeechMS: 14_300,
			},
		},
		{
			// One rep speaking 2.8 s in three ASR segments of 0.9 s each
			// (each under 1000 ms, so short): the first opens the rep's
			// turn and the others continue it. Version 3 took all three for
			// back-channels and found no monologue although the rep did all
			// the talking. speech = 2700; silence = 60000 - 2700.
			name:       "one speaker in short segments",
			durationMS: 60_000,
			sentences: numbered(
				in(0, 900, "我们今天主要聊一下"),
				in(950, 1850, "贵公司的采购流程"),
				in(1900, 2800, "以及预算的安排"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 2800, SilenceMS: 57_300,
				InternalSpeechMS: 2700, SpeechMS: 2700,
			},
		},
		{
			// A quick exchange of short sentences: the first opens a turn,
			// and from then on each is the other side's short sentence, a
			// back-channel, so the rep's turn holds the floor and goes on
			// after a gap of 1100 ms: I[0,2900], no switch (PRODUCT §4's
			// definition, strictly). Version 3 found no turn at all.
			// internal 900 + 900 = 1800; external 1800; speech 3600. 吗 and
			// 哪 make a question on each side: 1 internal in 4 s is 900 an hour.
			name:       "a quick exchange of short sentences",
			durationMS: 4000,
			sentences: numbered(
				in(0, 900, "您好请问是张总吗"),
				ex(1000, 1900, "对我是张伟你哪位"),
				in(2000, 2900, "我是明略的小王"),
				ex(3000, 3900, "哦小王你好你好"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 0.5, LongestMonologueMS: 2900, SilenceMS: 400,
				QuestionCountInternal: 1, QuestionCountExternal: 1, QuestionRate: 900,
				InternalSpeechMS: 1800, ExternalSpeechMS: 1800, SpeechMS: 3600,
			},
		},
		{
			// The customer's 好的 comes 2000 ms after their own turn ended: only the
			// other side's short sentences are back-channels, so it starts the
			// customer's next turn. Turns E[0,4000] E[6000,6500] I[7000,10000]; the
			// rep answers what the customer said last: patience 7000 - 6500 = 500.
			// external = 4000 + 500 = 4500; internal 3000; speech 7500;
			// talk ratio = 3000/7500 = 0.4; 1 switch (E→E is none) → 60000/7500 = 8
			// per minute. silence = 10000 - 7500 = 2500.
			name:       "own short sentence after the turn ended starts a turn",
			durationMS: 10_000,
			sentences: numbered(
				ex(0, 4000, enPrice),
				ex(6000, 6500, "好的"),
				in(7000, 10_000, zhDiscount),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 0.4, LongestMonologueMS: 3000,
				LongestCustomerStoryMS: 4000, Interactivity: 8, PatienceMS: 500,
				SilenceMS: 2500, InternalSpeechMS: 3000, ExternalSpeechMS: 4500,
				SpeechMS: 7500,
			},
		},
		{
			// The rep pauses 3000 ms, says "ok so" (400 ms, a short sentence of
			// their own side) and goes on 600 ms later: "ok so" opens the rep's
			// second turn, I[8000,15000] = 7000, not [9000,15000].
			// internal = 5000 + 400 + 6000 = 11400; external 4000; speech 15400;
			// talk ratio = 11400/15400 = 57/77; 1 switch → 60000/15400 per minute;
			// no internal turn after the external one: patience 0.
			// silence = 20000 - 15400 = 4600.
			name:       "own short sentence after a pause opens the side's next turn",
			durationMS: 20_000,
			sentences: numbered(
				in(0, 5000, enPrice),
				in(8000, 8400, "ok so"),
				in(9000, 15_000, enPrice),
				ex(16_000, 20_000, enPrice),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 57.0 / 77, LongestMonologueMS: 7000,
				LongestCustomerStoryMS: 4000, Interactivity: 600.0 / 154, SilenceMS: 4600,
				InternalSpeechMS: 11_400, ExternalSpeechMS: 4000, SpeechMS: 15_400,
			},
		},
		{
			// 嗯 runs 600 ms past the rep's last sentence: speech = [0,5600] = 5600,
			// but the turn is [0,5000] = 5000.
			// talk ratio = 5000/(5000 + 800) = 25/29; silence = 6000 - 5600 = 400.
			name:       "back-channel running past a turn does not lengthen it",
			durationMS: 6000,
			sentences: numbered(
				in(0, 5000, zhPlan),
				ex(4800, 5600, "嗯"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 25.0 / 29, LongestMonologueMS: 5000,
				SilenceMS: 400, InternalSpeechMS: 5000, ExternalSpeechMS: 800, SpeechMS: 5600,
			},
		},
		{
			// Same-side gap of 6000 - 4000 = 2000 with only a back-channel between:
			// back-channels are transparent, so the gap splits the external turn
			// into E[0,4000] E[6000,9000] (no switch).
			// external = 4000 + 3000 = 7000; internal 500; speech 7500;
			// talk ratio = 500/7500 = 1/15; no switch; silence = 9000 - 7500 = 1500.
			name:       "back-channel does not bridge a long gap",
			durationMS: 9000,
			sentences: numbered(
				ex(0, 4000, enPrice),
				in(4500, 5000, "对"),
				ex(6000, 9000, enThink),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1.0 / 15, LongestCustomerStoryMS: 4000,
				SilenceMS: 1500, InternalSpeechMS: 500, ExternalSpeechMS: 7000, SpeechMS: 7500,
			},
		},
		{
			// The customer's 4-token, 2000 ms sentence inside the rep's sentence is no
			// back-channel, so it starts a turn: I[0,10000] E[5000,7000]
			// I[10500,15000]. 2 switches → 2 × 60000/14500 = 240/29 per minute;
			// patience 10500 - 7000 = 3500.
			// internal = 10000 + 4500 = 14500; external 2000; speech = 14500;
			// talk ratio = 14500/16500 = 29/33; silence = 15000 - 14500 = 500.
			name:       "overlapping interjection that is no back-channel takes a turn",
			durationMS: 15_000,
			sentences: numbered(
				in(0, 10_000, zhPlan),
				ex(5000, 7000, "I disagree with that"),
				in(10_500, 15_000, zhDiscount),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 29.0 / 33, LongestMonologueMS: 10_000,
				LongestCustomerStoryMS: 2000, Interactivity: 240.0 / 29, PatienceMS: 3500,
				SilenceMS: 500, InternalSpeechMS: 14_500, ExternalSpeechMS: 2000,
				SpeechMS: 14_500,
			},
		},
		{
			// Patience gaps 3000 - 2000 = 1000 and 10001 - 8000 = 2001 (the I→E gap
			// of 1000 is not patience); mean 3001/2 = 1500.5, not rounded.
			// internal = 2000 + 1999 = 3999; external = 2000 + 2000 = 4000;
			// speech 7999; talk ratio 3999/7999; 3 switches → 180000/7999 per minute.
			// silence = 12000 - 7999 = 4001.
			name:       "patience is a fractional mean",
			durationMS: 12_000,
			sentences: numbered(
				ex(0, 2000, enPrice),
				in(3000, 5000, zhPlan),
				ex(6000, 8000, enThink),
				in(10_001, 12_000, zhDiscount),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 3999.0 / 7999, LongestMonologueMS: 2000,
				LongestCustomerStoryMS: 2000, Interactivity: 180_000.0 / 7999, PatienceMS: 1500.5,
				SilenceMS: 4001, InternalSpeechMS: 3999, ExternalSpeechMS: 4000, SpeechMS: 7999,
			},
		},
		{
			// Patience gaps of 1 ms (2001 - 2000) and 0 ms (7000 - 7000, touching):
			// mean 0.5, not 1. internal = 1999 + 2000 = 3999; external = 4000;
			// speech 7999 (the touching turns merge in the union); talk ratio
			// 3999/7999; 3 switches → 180000/7999 per minute; silence 2001.
			name:       "patience of 1 ms and 0 ms gaps is 0.5",
			durationMS: 10_000,
			sentences: numbered(
				ex(0, 2000, enPrice),
				in(2001, 4000, zhPlan),
				ex(5000, 7000, enThink),
				in(7000, 9000, zhDiscount),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 3999.0 / 7999, LongestMonologueMS: 2000,
				LongestCustomerStoryMS: 2000, Interactivity: 180_000.0 / 7999, PatienceMS: 0.5,
				SilenceMS: 2001, InternalSpeechMS: 3999, ExternalSpeechMS: 4000, SpeechMS: 7999,
			},
		},
		{
			// Questions: internal 什么, "Zoom?", 好吗？ (a back-channel too) and the
			// zero-length 对吗 = 4; external 为什么…？ = 1; 我们用的是表格 is none.
			// question rate = 4 questions / 0.5 h = 8 per hour.
			// internal = 3000 + 2500 + 400 = 5900; external = 2500 + 2500 = 5000;
			// all disjoint: speech 10900; talk ratio = 5900/10900 = 59/109.
			// Turns I E I E (好吗？ and 对吗 start none): 3 switches →
			// 180000/10900 = 1800/109 per minute; patience 6500 - 6000 = 500.
			// silence = 1800000 - 10900 = 1789100.
			name:       "questions and question rate",
			durationMS: 1_800_000,
			sentences: numbered(
				in(0, 3000, "您现在用什么系统"),
				ex(3500, 6000, zhExcel),
				in(6500, 9000, "Does it work with Zoom?"),
				ex(9500, 12_000, "为什么要换系统？"),
				in(12_500, 12_900, "好吗？"),
				in(13_000, 13_000, "对吗"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 59.0 / 109, LongestMonologueMS: 3000,
				LongestCustomerStoryMS: 2500, Interactivity: 1800.0 / 109, PatienceMS: 500,
				QuestionCountInternal: 4, QuestionCountExternal: 1, QuestionRate: 8,
				SilenceMS: 1_789_100, InternalSpeechMS: 5900, ExternalSpeechMS: 5000,
				SpeechMS: 10_900,
			},
		},
		{
			// Only a zero-length question: no speech at all, but 1 question in
			// 10000 ms = 1 × 3600000/10000 = 360 per hour; silence 10000.
			name:       "zero-length sentence is no speech but still a question",
			durationMS: 10_000,
			sentences:  numbered(in(5000, 5000, "什么时候签约")),
			want: Metrics{
				AlgoVersion: AlgoVersion, QuestionCountInternal: 1, QuestionRate: 360, SilenceMS: 10_000,
			},
		},
		{
			// The zero-length 对吗 starts 1000 ms after the turn's end but does not
			// stretch it to 5000: monologue 4000. 1 question in 6000 ms =
			// 3600000/6000 = 600 per hour; silence = 6000 - 4000 = 2000.
			name:       "zero-length sentence does not lengthen a turn",
			durationMS: 6000,
			sentences: numbered(
				in(0, 4000, zhPlan),
				in(5000, 5000, "对吗"),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 4000,
				QuestionCountInternal: 1, QuestionRate: 600, SilenceMS: 2000,
				InternalSpeechMS: 4000, SpeechMS: 4000,
			},
		},
		{
			// Speech 8000 exceeds the stated 5000 ms: silence clamps at 0.
			name:       "speech past the duration clamps silence at 0",
			durationMS: 5000,
			sentences:  numbered(in(0, 8000, zhPlan)),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 8000,
				InternalSpeechMS: 8000, SpeechMS: 8000,
			},
		},
		{
			// Without a duration there is no question rate and no silence.
			name:      "unknown duration",
			sentences: numbered(in(0, 2000, "什么时候开始")),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 2000,
				QuestionCountInternal: 1, InternalSpeechMS: 2000, SpeechMS: 2000,
			},
		},
		{
			// Side(42) is not SideInternal, so it counts as external (the caller maps
			// "unknown" affiliation to SideExternal; stray values land there too).
			// talk ratio 0; longest customer story 3000; silence 4000 - 3000.
			name:       "any side other than internal is external",
			durationMS: 4000,
			sentences: []Sentence{
				{Seq: 1, StartMS: 0, EndMS: 3000, Side: Side(42), Text: enPrice},
			},
			want: Metrics{
				AlgoVersion: AlgoVersion, LongestCustomerStoryMS: 3000, SilenceMS: 1000,
				ExternalSpeechMS: 3000, SpeechMS: 3000,
			},
		},
		{
			// A negative start is clamped to 0 and an end before the start makes the
			// sentence zero-length: speech [0,2000] = 2000 only.
			name:       "malformed times",
			durationMS: 3000,
			sentences: numbered(
				in(-1000, 2000, zhPlan),
				ex(2500, 1000, enPrice),
			),
			want: Metrics{
				AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: 2000, SilenceMS: 1000,
				InternalSpeechMS: 2000, SpeechMS: 2000,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := slices.Clone(tt.sentences)
			got := Compute(tt.durationMS, tt.sentences)
			if !metricsEqual(got, tt.want) {
				t.Errorf("Compute() =\n%+v\nwant\n%+v", got, tt.want)
			}
			if !slices.Equal(tt.sentences, input) {
				t.Errorf("Compute modified its input")
			}
		})
	}
}

// metricsEqual compares the integers exactly and the ratios to 1e-9: the
// expectations are written as fractions, which need not round the same way as
// the computation does.
func metricsEqual(a, b Metrics) bool {
	for _, f := range [][2]float64{
		{a.TalkRatio, b.TalkRatio},
		{a.Interactivity, b.Interactivity},
		{a.QuestionRate, b.QuestionRate},
	} {
		if math.Abs(f[0]-f[1]) > 1e-9 {
			return false
		}
	}
	a.TalkRatio, a.Interactivity, a.QuestionRate = 0, 0, 0
	b.TalkRatio, b.Interactivity, b.QuestionRate = 0, 0, 0
	return a == b
}

func TestComputeMetricsExtremeTimes(t *testing.T) {
	got := Compute(math.MaxInt64, []Sentence{
		in(math.MinInt64, math.MaxInt64, zhPlan),
		ex(math.MaxInt64-1, math.MaxInt64, enPrice),
	})
	want := Metrics{
		AlgoVersion: AlgoVersion, TalkRatio: 1, LongestMonologueMS: maxTimestampMS,
		QuestionRate: 0, SilenceMS: math.MaxInt64 - maxTimestampMS,
		InternalSpeechMS: maxTimestampMS, SpeechMS: maxTimestampMS,
	}
	if !metricsEqual(got, want) {
		t.Errorf("Compute() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestIsQuestion(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"您现在用什么系统", true},
		{"好吗", true},
		{"你们呢", true},
		{"这个怎么收费", true},
		{"为什么要换", true},
		{"预算多少", true},
		{"哪个版本", true},
		{"你们在哪里", true},
		{"是吗。", true}, // 吗 counts wherever it is
		{"Really?", true},
		{"Really？", true},
		{"Does it work with Zoom?  ", true},
		{"He asked \"why?\"", true},
		{"“真的？”", true},
		{"「真的？」", true},
		{"?", true},
		{"我呢，觉得可以", true}, // the markers are literal, false positives included
		{"", false},
		{"   ", false},
		{"我们明天见", false},
		{"Okay.", false},
		{"Is it? No.", false},
		{"Really?!", false},
		{"好的", false},
		{"是的是的", false},
	}
	for _, tt := range tests {
		if got := IsQuestion(tt.text); got != tt.want {
			t.Errorf("IsQuestion(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// hasQuestionWord finds what searching for each interrogative of
// PRODUCT.md §4 finds, in any text, broken UTF-8 included.
func TestHasQuestionWordIsTheListOfInterrogatives(t *testing.T) {
	words := []string{"吗", "呢", "什么", "怎么", "为什么", "多少", "哪"}
	literal := func(text string) bool {
		for _, w := range words {
			if strings.Contains(text, w) {
				return true
			}
		}
		return false
	}
	// Pieces that make and break the words: their runes, their bytes
	// alone, and runes that only look alike.
	pieces := []string{"什", "么", "怎", "多", "少", "为", "吗", "呢", "哪", "麼", "甚", "a", " ", "？",
		"\xe4", "\xbb", "\x80", "\xe4\xbb", "\xe5\x90", "\xff"}
	for _, w := range words {
		for i := range len(w) {
			pieces = append(pieces, w[:i], w[i:])
		}
	}
	rng := rand.New(rand.NewPCG(5, 8))
	for range 200_000 {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if text := b.String(); hasQuestionWord(text) != literal(text) {
			t.Fatalf("hasQuestionWord(%q) = %v, the list says %v", text, hasQuestionWord(text), literal(text))
		}
	}
}

func TestIsBackChannel(t *testing.T) {
	tests := []struct {
		name string
		s    Sentence
		want bool
	}{
		{"short in time", in(0, 400, zhPlan), true},
		{"999 ms", in(0, 999, zhPlan), true},
		{"1000 ms and 7 tokens", in(0, 1000, zhPlan), false},
		{"嗯", in(0, 5000, "嗯"), true},
		{"对", in(0, 5000, "对。"), true},
		{"好的", in(0, 5000, "好的"), true},
		{"是的是的 is 4 tokens", in(0, 1500, "是的是的"), false},
		{"是的是的 said fast", in(0, 800, "是的是的"), true},
		{"ok", ex(0, 1500, "ok"), true},
		{"yeah sure", ex(0, 1500, "yeah sure"), true},
		{"yeah sure thing", ex(0, 1500, "yeah sure thing"), false},
		{"question", in(0, 1500, "好吗？"), true},
		{"empty", in(0, 0, ""), true},
		{"end before start", in(5000, 4000, zhPlan), true},
		{"huge span", in(math.MinInt64, math.MaxInt64, zhPlan), false},
	}
	for _, tt := range tests {
		if got := IsBackChannel(tt.s); got != tt.want {
			t.Errorf("%s: IsBackChannel(%+v) = %v, want %v", tt.name, tt.s, got, tt.want)
		}
	}
}

// The JSON names are what the metrics rows and the API expose.
func TestMetricsJSONNames(t *testing.T) {
	b, err := json.Marshal(Metrics{})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(fields))
	want := []string{
		"algo_version", "external_speech_ms", "interactivity", "internal_speech_ms",
		"longest_customer_story_ms", "longest_monologue_ms", "patience_ms",
		"question_count_external", "question_count_internal", "question_rate",
		"silence_ms", "speech_ms", "talk_ratio",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON fields = %v, want %v", got, want)
	}
}

var fuzzTexts = []string{
	"", "嗯", "好的", "是的是的", "ok", "yeah sure", "好吗？", zhPlan, enPrice,
	"您现在用什么系统", "Does it work with Zoom?",
}

// fuzzSentences decodes 6 bytes per sentence: side (any int8, so stray values
// are exercised), start (in units of 100 ms), length (-1000 to 24755 ms;
// negatives exercise end < start) and text.
func fuzzSentences(data []byte) []Sentence {
	var ss []Sentence
	for i := 0; len(data) >= 6; i++ {
		start := int64(binary.BigEndian.Uint16(data[1:3])) * 100
		length := (int64(data[3])-10)*100 + int64(data[4])
		ss = append(ss, Sentence{
			Seq:     i,
			StartMS: start,
			EndMS:   start + length,
			Side:    Side(int8(data[0])),
			Text:    fuzzTexts[int(data[5])%len(fuzzTexts)],
		})
		data = data[6:]
	}
	return ss
}

func FuzzComputeMetrics(f *testing.F) {
	f.Add(int64(0), []byte{})
	f.Add(int64(60_000), []byte{
		1, 0, 0, 110, 0, 7, // internal [0,10000]
		0, 0, 50, 14, 0, 1, // external 嗯 [5000,5400]
		0, 0, 110, 110, 0, 8, // external [11000,21000]
		1, 0, 100, 30, 0, 9, // internal question [10000,12000]
	})
	f.Add(int64(-5), []byte{1, 0xff, 0xff, 0xff, 0xff, 3, 7, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, durationMS int64, data []byte) {
		ss := fuzzSentences(data)
		input := slices.Clone(ss)
		m := Compute(durationMS, ss)
		if !slices.Equal(ss, input) {
			t.Fatal("input modified")
		}

		var sumLen, minStart, maxEnd int64
		for i, s := range ss {
			sumLen += max(0, s.EndMS-s.StartMS)
			if i == 0 || s.StartMS < minStart {
				minStart = s.StartMS
			}
			maxEnd = max(maxEnd, s.EndMS)
		}
		span := max(0, maxEnd-minStart)

		if m.AlgoVersion != AlgoVersion {
			t.Errorf("algo version %d", m.AlgoVersion)
		}
		if !(m.TalkRatio >= 0 && m.TalkRatio <= 1) {
			t.Errorf("talk ratio %v out of [0,1]", m.TalkRatio)
		}
		if m.SilenceMS < 0 {
			t.Errorf("silence %d < 0", m.SilenceMS)
		}
		if m.SpeechMS > sumLen {
			t.Errorf("speech %d > sum of sentence lengths %d", m.SpeechMS, sumLen)
		}
		if m.SpeechMS < max(m.InternalSpeechMS, m.ExternalSpeechMS) ||
			m.SpeechMS > m.InternalSpeechMS+m.ExternalSpeechMS {
			t.Errorf("speech %d inconsistent with internal %d and external %d",
				m.SpeechMS, m.InternalSpeechMS, m.ExternalSpeechMS)
		}
		if m.LongestMonologueMS < 0 || m.LongestMonologueMS > span ||
			m.LongestCustomerStoryMS < 0 || m.LongestCustomerStoryMS > span {
			t.Errorf("turns %d/%d outside the span %d",
				m.LongestMonologueMS, m.LongestCustomerStoryMS, span)
		}
		if !(m.PatienceMS >= 0 && m.PatienceMS <= float64(span)) {
			t.Errorf("patience %v outside [0, %d]", m.PatienceMS, span)
		}
		if !(m.Interactivity >= 0) || math.IsInf(m.Interactivity, 0) ||
			!(m.QuestionRate >= 0) || math.IsInf(m.QuestionRate, 0) {
			t.Errorf("interactivity %v, question rate %v", m.Interactivity, m.QuestionRate)
		}
		if m.QuestionCountInternal+m.QuestionCountExternal > len(ss) {
			t.Errorf("%d+%d questions in %d sentences",
				m.QuestionCountInternal, m.QuestionCountExternal, len(ss))
		}

		reversed := slices.Clone(ss)
		slices.Reverse(reversed)
		if r := Compute(durationMS, reversed); r != m {
			t.Errorf("order matters:\n%+v\n%+v", m, r)
		}
	})
}

// A call of 5,000 sentences (about 75 minutes): turns of two sentences each,
// alternating sides, with a back-channel from the listener every third sentence.
func BenchmarkComputeMetrics(b *testing.B) {
	ss := make([]Sentence, 0, 5000)
	var t int64
	for i := 0; len(ss) < cap(ss); i++ {
		speaker, listener := SideInternal, SideExternal
		if i/2%2 == 1 {
			speaker, listener = SideExternal, SideInternal
		}
		ss = append(ss, Sentence{Seq: len(ss), StartMS: t, EndMS: t + 1100, Side: speaker, Text: zhPlan})
		if i%3 == 0 && len(ss) < cap(ss) {
			ss = append(ss, Sentence{Seq: len(ss), StartMS: t + 300, EndMS: t + 600, Side: listener, Text: "嗯"})
		}
		t += 1200
	}
	b.ReportAllocs()
	for b.Loop() {
		Compute(t, ss)
	}
}
