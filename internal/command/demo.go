package command

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// seedConversations writes n demo conversations with transcripts for the
// tenant through the ingest path (so metrics, hooks and the outbox are the
// real ones): calls and meetings in Chinese and English spread over the last
// 90 days, owned in turn by reps, most of them attached to one of a dozen
// demo deals, each with 20–200 sentences including questions and
// back-channels. The content is a pure function of the tenant id and the
// day (today), so running it again the same day creates nothing and stores the same
// transcripts again; a conversation whose origin id holds something else
// already (a run on another day) is left alone. It returns how many
// conversations it created.
func seedConversations(ctx context.Context, in *conversation.Ingest, today time.Time, tenantID int64, reps []model.User, n int) (int, error) {
	if len(reps) == 0 {
		return 0, errors.New("seed conversations: no reps to own them")
	}
	ctx = model.WithScope(ctx, model.Scope{TenantID: tenantID, Role: model.RoleApp, AppScopes: []string{access.ScopeIngest}})
	rng := rand.New(rand.NewPCG(uint64(tenantID), 0x6d677664656d6f)) // "mgvdemo"
	today = today.UTC().Truncate(24 * time.Hour)

	deals := make([]int64, 0, len(demoAccounts))
	for i, acc := range demoAccounts {
		owner := reps[i%len(reps)]
		d, _, err := in.UpsertDeal(ctx, conversation.UpsertDealRequest{
			OriginDealID: fmt.Sprintf("demo-deal-%02d", i+1),
			Name:         acc.deal,
			AccountName:  acc.name,
			Stage:        demoStages[i%len(demoStages)],
			AmountCents:  int64(50_000+rng.IntN(950_000)) * 100,
			Owner:        conversation.Ref{ID: owner.ID},
		})
		if err != nil {
			return 0, fmt.Errorf("seed deal %d: %w", i+1, err)
		}
		deals = append(deals, d.ID)
	}

	created := 0
	for i := range n {
		req, lines := demoConversation(rng, i, today, reps[i%len(reps)], deals)
		res, err := in.CreateConversation(ctx, req)
		if err != nil && errs.From(err).Reason == errs.ReasonConversationConflict {
			continue
		}
		if err != nil {
			return created, fmt.Errorf("seed conversation %d: %w", i+1, err)
		}
		if _, err := in.PutTranscript(ctx, res.ConversationID, lines); err != nil {
			return created, fmt.Errorf("seed transcript %d: %w", i+1, err)
		}
		if res.Created {
			created++
		}
	}
	return created, nil
}

// demoConversation makes the i-th demo conversation and its transcript.
// deals[k] is the deal of demoAccounts[k].
func demoConversation(rng *rand.Rand, i int, today time.Time, rep model.User, deals []int64) (conversation.CreateRequest, []conversation.SentenceInput) {
	zh := rng.IntN(10) < 6
	lang, lines := "en-US", &demoEnglish
	k := rng.IntN(len(demoAccounts))
	acc := demoAccounts[k]
	accName := acc.en
	if zh {
		lang, lines = "zh-CN", &demoChinese
		k = rng.IntN(demoChineseAccounts)
		acc = demoAccounts[k]
		accName = acc.name
	}
	channel := model.ChannelCall
	if rng.IntN(10) < 3 {
		channel = model.ChannelMeeting
	}
	direction := []string{model.DirectionOutbound, model.DirectionOutbound, model.DirectionInbound, model.DirectionUnknown}[rng.IntN(4)]
	// Working hours in China (UTC+8): 09:00–18:00 is 01:00–10:00 UTC.
	begin := today.AddDate(0, 0, -1-rng.IntN(90)).Add(time.Duration(1+rng.IntN(9))*time.Hour + time.Duration(rng.IntN(60))*time.Minute)
	c := rng.IntN(len(lines.customers))
	customer, colleague := lines.customers[c], lines.customers[(c+1+rng.IntN(len(lines.customers)-1))%len(lines.customers)]

	g := demoTranscript{rng: rng, lines: lines, zh: zh}
	g.generate(20+rng.IntN(181), rep.Name, customer, accName, channel == model.ChannelMeeting)

	req := conversation.CreateRequest{
		OriginConversationID: fmt.Sprintf("demo-conv-%04d", i+1),
		Owner:                conversation.Ref{ID: rep.ID},
		Title:                fmt.Sprintf(lines.titles[rng.IntN(len(lines.titles))], accName),
		Channel:              channel,
		Direction:            direction,
		BeginTime:            begin,
		DurationMS:           g.t + int64(2000+rng.IntN(8000)),
		Language:             lang,
		CustomData:           map[string]any{"source": "demo", "crm_account": accName},
		Participants: []conversation.ParticipantInput{
			{SpeakerKey: "0", User: conversation.Ref{ID: rep.ID}},
			{SpeakerKey: "1", Name: customer, Affiliation: model.AffiliationExternal},
		},
	}
	if channel == model.ChannelMeeting {
		req.Participants = append(req.Participants, conversation.ParticipantInput{SpeakerKey: "2", Name: colleague, Affiliation: model.AffiliationExternal})
	}
	if rng.IntN(4) > 0 {
		req.Deal = conversation.Ref{ID: deals[k]}
	}
	return req, g.out
}

// demoTranscript writes a plausible sales call: greetings, rounds of
// discovery, pitch, customer questions and objections, and a close, with
// back-channels from the listening side and the odd overlap.
type demoTranscript struct {
	rng   *rand.Rand
	lines *demoLines
	zh    bool
	out   []conversation.SentenceInput
	t     int64 // end of the last sentence, ms
}

func (g *demoTranscript) generate(target int, rep, customer, account string, meeting bool) {
	fill := strings.NewReplacer("{rep}", rep, "{customer}", customer, "{account}", account).Replace
	pick := func(pool []string) string { return fill(pool[g.rng.IntN(len(pool))]) }
	pair := func(pool [][2]string) (string, string) {
		p := pool[g.rng.IntN(len(pool))]
		return fill(p[0]), fill(p[1])
	}
	cust := func() string { // in meetings the customer's colleague speaks too
		if meeting && g.rng.IntN(4) == 0 {
			return "2"
		}
		return "1"
	}
	g.say("0", pick(g.lines.repOpen))
	g.say("1", pick(g.lines.custOpen))
	for len(g.out) < target-3 {
		switch r := g.rng.IntN(20); {
		case r < 8: // discovery: the rep asks, the customer tells
			q, a := pair(g.lines.discovery)
			g.say("0", q)
			c := cust()
			g.say(c, a)
			for k := g.rng.IntN(3); k > 0; k-- {
				g.maybeBackChannel("0")
				g.say(c, pick(g.lines.custMore))
			}
		case r < 13: // a pitch, heard with back-channels
			for k := 1 + g.rng.IntN(3); k > 0; k-- {
				g.say("0", pick(g.lines.pitch))
				g.maybeBackChannel(cust())
			}
		case r < 17: // the customer asks
			q, a := pair(g.lines.custQuestions)
			g.say(cust(), q)
			g.say("0", a)
		case r < 19: // an objection and its answer
			o, a := pair(g.lines.objections)
			g.say(cust(), o)
			g.maybeBackChannel("0")
			g.say("0", a)
		default: // in a meeting, someone nobody registered chimes in
			if meeting {
				g.say("3", pick(g.lines.custMore))
			} else {
				g.say("0", pick(g.lines.pitch))
			}
		}
	}
	g.say("0", pick(g.lines.repClose))
	g.say("1", pick(g.lines.custClose))
	g.say("0", pick(g.lines.back))
	if len(g.out) > 200 {
		g.out = g.out[:200]
		g.t = g.out[len(g.out)-1].EndMS
	}
}

// say appends a sentence after a short pause (sometimes a slight overlap),
// as long as its text takes to speak.
func (g *demoTranscript) say(speaker, text string) {
	start := g.t + int64(150+g.rng.IntN(1200))
	if len(g.out) > 0 && g.rng.IntN(12) == 0 {
		start = max(0, g.t-int64(g.rng.IntN(400)))
	}
	var dur int64
	if g.zh {
		dur = int64(len([]rune(text)))*220 + 250
	} else {
		dur = int64(len(strings.Fields(text)))*330 + 250
	}
	g.out = append(g.out, conversation.SentenceInput{Seq: int64(len(g.out)), SpeakerKey: speaker, StartMS: start, EndMS: start + dur, Text: text})
	g.t = max(g.t, start+dur)
}

// maybeBackChannel lets the listening side say "嗯" or "right".
func (g *demoTranscript) maybeBackChannel(speaker string) {
	if g.rng.IntN(3) != 0 {
		return
	}
	start := g.t + int64(100+g.rng.IntN(300))
	end := start + int64(300+g.rng.IntN(500))
	g.out = append(g.out, conversation.SentenceInput{Seq: int64(len(g.out)), SpeakerKey: speaker, StartMS: start, EndMS: end,
		Text: g.lines.back[g.rng.IntN(len(g.lines.back))]})
	g.t = end
}

var demoStages = []string{"qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost"}

// demoAccounts are the demo customers, Chinese ones first; each has a deal.
var demoAccounts = []struct{ name, en, deal string }{
	{"华信科技", "Huaxin Tech", "华信科技 销售团队 200 席"},
	{"远航物流", "Yuanhang Logistics", "远航物流 呼叫中心项目"},
	{"恒泰医疗", "Hengtai Medical", "恒泰医疗 年度续约"},
	{"星河教育", "Xinghe Education", "星河教育 课程顾问团队"},
	{"蓝海零售", "Lanhai Retail", "蓝海零售 门店电话销售"},
	{"北辰制造", "Beichen Manufacturing", "北辰制造 海外渠道"},
	{"Northwind Traders", "Northwind Traders", "Northwind – 150 seats"},
	{"Acme Logistics", "Acme Logistics", "Acme Logistics – pilot"},
	{"Globex Health", "Globex Health", "Globex Health – renewal"},
	{"Initech Software", "Initech Software", "Initech – sales coaching"},
	{"Umbrella Retail", "Umbrella Retail", "Umbrella Retail – inside sales"},
	{"Contoso Bank", "Contoso Bank", "Contoso Bank – wealth advisors"},
}

// demoChineseAccounts: Chinese calls are with the first ones.
const demoChineseAccounts = 6

// demoLines are the phrases of one language; {rep}, {customer} and
// {account} are filled in. Pairs are a line and its answer.
type demoLines struct {
	titles, customers []string
	repOpen, custOpen []string
	discovery         [][2]string // the rep's question, the customer's answer
	custMore          []string    // the customer goes on
	pitch             []string
	custQuestions     [][2]string // the customer's question, the rep's answer
	objections        [][2]string // the customer's objection, the rep's answer
	repClose          []string
	custClose         []string
	back              []string
}

var demoChinese = demoLines{
	titles:    []string{"与%s的需求沟通", "%s 报价跟进", "%s 产品演示", "%s 续约沟通", "%s 首次电话拜访"},
	customers: []string{"王总", "李经理", "张女士", "陈先生", "刘总", "赵主管", "周经理"},
	repOpen: []string{
		"{customer}您好，我是 Megaview 的{rep}，之前跟您约过今天下午聊一下。",
		"喂，{customer}您好，我是{rep}，现在方便说两句吗？",
		"{customer}好，感谢您抽时间，我们今天主要聊一下{account}销售团队的情况。",
	},
	custOpen: []string{"你好你好，方便的，你说吧。", "嗯，我记得，我们开始吧。", "可以，我这边大概有半个小时。"},
	discovery: [][2]string{
		{"目前咱们销售团队大概有多少人？", "我们现在一线销售大概八十个人，分了四个小组。"},
		{"你们现在是怎么复盘销售电话的呢？", "复盘基本靠主管抽听录音，一周也就听个十来通。"},
		{"今年在销售培训这块的预算大概是多少？", "预算今年是有的，但是要看具体的方案和价格。"},
		{"您觉得现在新人上手最大的问题是什么？", "新人主要是不知道怎么挖需求，一上来就讲产品。"},
		{"这个项目最后是由哪位来拍板呢？", "最后拍板是我们销售副总，我这边先做评估。"},
		{"你们有没有在用其他的竞品？", "之前试过一家，但是中文转写的准确率不太行。"},
		{"上线时间上您这边有什么要求吗？", "最好是下个季度之前能上线，因为年中要扩招。"},
		{"目前的客户跟进主要用哪个系统？", "客户信息都在我们自己的CRM里面。"},
	},
	custMore: []string{
		"说实话我们的主管时间很紧，没有精力每通电话都听。",
		"这个问题我们内部也讨论过好几次了。",
		"主要还是人手不够，新人流失也比较快。",
		"老板对这块也比较关注，希望今年能有改善。",
	},
	pitch: []string{
		"我们的系统会把每一通电话自动转成文字，并且标出关键的话题。",
		"主管不用再抽听录音，直接看每个销售的说话占比和提问次数就可以。",
		"像预算、竞品、价格这些关键词，我们可以设置成跟踪器，自动提醒。",
		"很多客户用了三个月以后，新人的上手周期缩短了差不多一半。",
		"我们也支持跟你们现有的CRM打通，通话记录会自动关联到商机上。",
	},
	custQuestions: [][2]string{
		{"你们的价格大概是怎么算的？", "我们是按坐席数收费的，量大的话可以给到折扣。"},
		{"这个转写准确率能到多少？", "转写准确率我们在电话场景下能做到百分之九十以上。"},
		{"实施周期要多久啊？", "实施一般两周就能完成，我们会有专门的客户成功经理跟进。"},
		{"能不能先试用一下？", "可以先给你们开一个试用账号，选一个小组试两周看看效果。"},
		{"数据是存在哪里的呢？", "数据都是存在国内的机房，安全这块您可以放心。"},
		{"跟我们现在的CRM能对接吗？", "可以的，我们有标准接口，通话会自动关联到对应的商机上。"},
	},
	objections: [][2]string{
		{"价格的话说实话有点高，我们今年预算比较紧张。", "理解您的顾虑，我们可以把合同分成两期来签。"},
		{"我担心销售会觉得被监控，抵触情绪比较大。", "这个很常见，我们建议先从辅导的角度推，让销售看到对自己的帮助。"},
		{"我们之前用过类似的工具，最后没推下去。", "我们会有客户成功经理陪你们推三个月，每周看使用数据。"},
		{"这个事情我还得跟老板汇报一下，现在定不了。", "没问题，我可以准备一份汇报材料，方便您跟老板沟通。"},
	},
	repClose: []string{
		"那今天就先聊到这里，预算和 next steps 我整理一下，下午把方案和报价发到您邮箱。",
		"好的，那我们下周二再约个时间给你们团队做个演示，可以吗？",
		"感谢{customer}，有什么问题随时微信联系我。",
	},
	custClose: []string{"好的，你先发过来，我们内部讨论一下。", "行，那就下周二吧，我拉上几个主管一起。", "好，辛苦了，再联系。"},
	back:      []string{"嗯", "对", "好的", "嗯嗯", "是的", "明白", "对对对"},
}

var demoEnglish = demoLines{
	titles:    []string{"Discovery call with %s", "Pricing follow-up – %s", "Product demo for %s", "Renewal check-in – %s", "Intro call – %s"},
	customers: []string{"Sarah Chen", "Mike Johnson", "Emily Davis", "David Lee", "Laura Martinez", "James Wilson"},
	repOpen: []string{
		"Hi {customer}, this is {rep} from Megaview, thanks for taking the time today.",
		"Hello {customer}, it's {rep}, is this still a good time to talk?",
		"Good morning {customer}, I'd love to learn more about the sales team at {account}.",
	},
	custOpen: []string{"Sure, happy to chat, I have about thirty minutes.", "Hi {rep}, yes, go ahead.", "Thanks for reaching out, let's get started."},
	discovery: [][2]string{
		{"How many reps are on your sales team right now?", "We have about sixty reps split across three regional teams."},
		{"How do your managers review calls today?", "Honestly, managers listen to a handful of recordings a week at most."},
		{"What does your budget for sales enablement look like this year?", "We do have budget, but it depends on the pricing and the rollout plan."},
		{"What's the biggest challenge when you onboard new reps?", "New reps tend to pitch too early instead of asking about the customer's needs."},
		{"Who else will be involved in the decision?", "Our VP of Sales signs off, I'm running the evaluation for her."},
		{"Are you evaluating any other vendors at the moment?", "We looked at a competitor last year but the transcripts were not accurate enough."},
		{"When would you ideally want this rolled out?", "Ideally before the next quarter, we're hiring a lot in the summer."},
		{"Which CRM does the team use today?", "Everything lives in Salesforce right now."},
	},
	custMore: []string{
		"Our managers are stretched thin and can't coach every deal.",
		"We've been talking about this internally for a while.",
		"Turnover has been high, so ramping people quickly really matters.",
		"Leadership wants to see better win rates this year.",
	},
	pitch: []string{
		"Every call is transcribed automatically and the key topics are highlighted.",
		"Managers can see talk ratio, questions asked and longest monologue for each rep.",
		"You can set up trackers for words like budget, pricing or competitor and get alerted.",
		"Most customers cut ramp time for new reps by almost half within a quarter.",
		"We integrate with your CRM so every call is attached to the right deal.",
	},
	custQuestions: [][2]string{
		{"How does your pricing work?", "We price per seat and offer a discount for larger teams."},
		{"How accurate is the transcription?", "On phone calls our transcription accuracy is above ninety percent."},
		{"How long does implementation take?", "Implementation usually takes about two weeks with a dedicated success manager."},
		{"Can we try it before we commit?", "We can set up a two-week pilot with one of your teams to prove the value."},
		{"Where is the data stored?", "All data is encrypted at rest and you control the retention period."},
		{"Does it integrate with our CRM?", "Yes, calls are logged against the right opportunity automatically."},
	},
	objections: [][2]string{
		{"To be honest the price is a bit high for us this year.", "I understand the concern, we could split the contract into two phases."},
		{"I'm worried the reps will feel like they're being monitored.", "That's common, most teams position it as coaching and reps end up asking for it."},
		{"We tried a similar tool before and adoption was poor.", "Our success team runs the rollout with you and reviews adoption every week."},
		{"I need to run this by my boss before we can commit to anything.", "Of course, I can put together a one-page summary you can share with her."},
	},
	repClose: []string{
		"Thanks {customer}, I'll send the proposal and pricing this afternoon.",
		"Shall we book a demo with your managers next Tuesday?",
		"Great talking to you, feel free to reach out with any questions.",
	},
	custClose: []string{"Sounds good, send it over and we'll discuss internally.", "Tuesday works, I'll invite a few of the managers.", "Thanks {rep}, talk soon."},
	back:      []string{"ok", "right", "yeah sure", "mm-hmm", "got it", "I see", "sure"},
}
