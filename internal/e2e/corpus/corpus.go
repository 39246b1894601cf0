// Package corpus generates the transcript corpus of the search benchmark
// (QUALITY P4): sales conversations in Chinese, English and both, built
// deterministically from vocabulary tables (products, companies,
// competitors, features, people, days, amounts, questions and
// back-channels), and loads it fast, straight into MySQL with multi-row
// INSERTs and into Elasticsearch with _bulk of the documents the indexer
// builds (elastic.BulkBody), without the outbox. Conversation i of a Spec is
// always the same, so a loaded corpus is recognised by its signature and
// kept between runs, and both stores can be (re)loaded independently.
package corpus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/megaview/mgvcore/internal/search"
)

// Version changes with anything that changes the generated text or rows; it
// is part of the signature, so a stale cached corpus is rebuilt.
const Version = 2

// Spec sizes a corpus.
type Spec struct {
	Conversations int
	// Sentences is the mean number of sentences per conversation; the
	// total is exactly Conversations × Sentences.
	Sentences int
	Seed      uint64
}

// Default is the P4 corpus: 8,000 conversations, 1,000,000 sentences.
var Default = Spec{Conversations: 8000, Sentences: 125, Seed: 20250601}

// Total is the number of sentences.
func (s Spec) Total() int { return s.Conversations * s.Sentences }

// Signature names the generated content.
func (s Spec) Signature() string {
	return fmt.Sprintf("corpus-v%d-%dx%d-seed%d", Version, s.Conversations, s.Sentences, s.Seed)
}

// Owner is a user that owns conversations, with the department path the
// index records for them.
type Owner struct {
	ID             int64
	Name           string
	DepartmentPath string
}

// Generator makes the conversations of a Spec for one tenant. Conversation
// i gets the id FirstID+i.
type Generator struct {
	Spec     Spec
	TenantID int64
	FirstID  int64
	// Owners own the conversations, the first ones more than the last.
	Owners []Owner
	// Epoch is the first day of the corpus (UTC); conversations spread over
	// Days days from it.
	Epoch time.Time
	Days  int
}

// NewGenerator uses the default time span: 26 weeks from 2025-01-06.
func NewGenerator(spec Spec, tenantID, firstID int64, owners []Owner) *Generator {
	return &Generator{
		Spec: spec, TenantID: tenantID, FirstID: firstID, Owners: owners,
		Epoch: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), Days: 182,
	}
}

// Conversation is one generated conversation: its index document (which
// holds every column the database rows need) and what only the database
// keeps.
type Conversation struct {
	Doc          *search.Doc
	Origin       string
	Participants []Participant
	CreatedAt    time.Time
}

// Participant maps a speaker to a person; UserID 0 is nobody's account.
type Participant struct {
	SpeakerKey  string
	UserID      int64
	Name        string
	Affiliation string
}

// Languages of a conversation.
const (
	LangZH    = "zh-CN"
	LangEN    = "en-US"
	langMixed = "mixed"
)

// sentences is how many sentences conversation i has: pairs of
// conversations differ from the mean by the same amount in opposite
// directions, so the total is exact.
func (g *Generator) sentences(i int) int {
	n := g.Spec.Sentences
	if i/2*2+1 >= g.Spec.Conversations {
		return n // the odd one out
	}
	r := rand.New(rand.NewPCG(g.Spec.Seed^0x5eed, uint64(i/2)))
	d := r.IntN(n*3/5 + 1)
	if i%2 == 1 {
		d = -d
	}
	return n + d
}

// Conversation generates conversation i (0-based).
func (g *Generator) Conversation(i int) *Conversation {
	r := rand.New(rand.NewPCG(g.Spec.Seed, uint64(i)*0x9e3779b97f4a7c15+1))
	id := g.FirstID + int64(i)

	// Busy reps own more: the owner index skews towards the first ones.
	owner := g.Owners[min(len(g.Owners)-1, int(math.Pow(r.Float64(), 1.6)*float64(len(g.Owners))))]
	lang := LangZH
	switch x := r.Float64(); {
	case x >= 0.85:
		lang = langMixed
	case x >= 0.55:
		lang = LangEN
	}
	channel, direction := "call", "outbound"
	switch x := r.Float64(); {
	case x < 0.3:
		channel, direction = "meeting", "unknown"
	case x < 0.55:
		direction = "inbound"
	}
	// Working hours in China (UTC+8): 01:00–10:00 UTC.
	begin := g.Epoch.Add(time.Duration(r.IntN(g.Days))*24*time.Hour + time.Hour +
		time.Duration(r.IntN(9*3600))*time.Second)

	company := pick(r, companiesZH)
	if lang == LangEN {
		company = pick(r, companiesEN)
	}
	product := r.IntN(len(productsZH))
	customer := pick(r, peopleZH)
	if lang == LangEN {
		customer = pick(r, peopleEN)
	}
	parts := []Participant{
		{SpeakerKey: "rep", UserID: owner.ID, Name: owner.Name, Affiliation: "internal"},
		{SpeakerKey: "cust", Name: customer, Affiliation: "external"},
	}
	speakers := []string{"rep", "cust"}
	weights := []float64{0.52, 0.48}
	if r.Float64() < 0.35 {
		colleague := pick(r, peopleZH)
		if lang == LangEN {
			colleague = pick(r, peopleEN)
		}
		parts = append(parts, Participant{SpeakerKey: "cust2", Name: colleague, Affiliation: "external"})
		speakers, weights = append(speakers, "cust2"), []float64{0.45, 0.35, 0.2}
	}
	if r.Float64() < 0.1 {
		// A speaker the partner did not name: affiliation unknown.
		speakers, weights = append(speakers, "spk_x"), append(weights[:len(weights)-1], weights[len(weights)-1]-0.05, 0.05)
	}
	affiliation := map[string]string{"spk_x": "unknown"}
	for _, p := range parts {
		affiliation[p.SpeakerKey] = p.Affiliation
	}

	f := filler{r: r, company: company, product: product}
	n := g.sentences(i)
	sents := make([]search.Sentence, n)
	var at int64
	for s := 0; s < n; s++ {
		speaker := speakers[weighted(r, weights)]
		if s == 0 {
			speaker = "rep"
		}
		l := lang
		if l == langMixed {
			l = LangZH
			if r.Float64() < 0.4 {
				l = LangEN
			}
		}
		text := f.sentence(l, affiliation[speaker] == "internal", s == 0)
		runes := len([]rune(text))
		per := int64(230) // ms per Chinese character
		if l == LangEN {
			per = 65
		}
		dur := 300 + per*int64(runes) + int64(r.IntN(400))
		at += int64(150 + r.IntN(1200))
		sents[s] = search.Sentence{
			Seq: s, SpeakerKey: speaker, Affiliation: affiliation[speaker], StartMS: at, EndMS: at + dur, Text: text,
		}
		at += dur
	}
	duration := at + int64(2000+r.IntN(5000))

	title := fmt.Sprintf("%s · %s沟通", company, productsZH[product])
	if lang == LangEN {
		title = fmt.Sprintf("%s — %s %s", company, productsEN[product], pick(r, callKindsEN))
	}
	language := lang
	if lang == langMixed {
		language = LangZH
	}
	return &Conversation{
		Doc: &search.Doc{
			TenantID: g.TenantID, ConversationID: id, OwnerUserID: owner.ID, DepartmentPath: owner.DepartmentPath,
			Title: title, Channel: channel, Direction: direction, BeginTime: begin, DurationMS: duration,
			Language: language, Version: 1, Sentences: sents,
		},
		Origin:       fmt.Sprintf("bench-%s-%07d", g.Spec.Signature(), i),
		Participants: parts,
		CreatedAt:    begin.Add(time.Duration(duration)*time.Millisecond + 5*time.Minute),
	}
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func weighted(r *rand.Rand, w []float64) int {
	x := r.Float64()
	for i, p := range w {
		if x < p {
			return i
		}
		x -= p
	}
	return len(w) - 1
}

// filler expands the templates of one conversation, which is about one
// customer company and one product.
type filler struct {
	r       *rand.Rand
	company string
	product int
}

func (f filler) sentence(lang string, internal, first bool) string {
	r := f.r
	if first {
		if lang == LangEN {
			return f.expand(pick(r, openersEN), lang)
		}
		return f.expand(pick(r, openersZH), lang)
	}
	if r.Float64() < 0.16 {
		if lang == LangEN {
			return pick(r, backchannelsEN)
		}
		return pick(r, backchannelsZH)
	}
	var list []string
	switch {
	case lang == LangEN && internal:
		list = repEN
	case lang == LangEN:
		list = customerEN
	case internal:
		list = repZH
	default:
		list = customerZH
	}
	return f.expand(pick(r, list), lang)
}

// expand replaces every {slot} of tmpl.
func (f filler) expand(tmpl, lang string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		end := strings.IndexByte(tmpl[open:], '}')
		b.WriteString(tmpl[:open])
		b.WriteString(f.slot(tmpl[open+1:open+end], lang))
		tmpl = tmpl[open+end+1:]
	}
}

func (f filler) slot(name, lang string) string {
	r := f.r
	en := lang == LangEN
	switch name {
	case "company":
		return f.company
	case "product":
		if en {
			return productsEN[f.product]
		}
		return productsZH[f.product]
	case "other_product", "feature", "person", "rep", "day":
		lists := wordSlots[name]
		if en {
			return pick(r, lists[1])
		}
		return pick(r, lists[0])
	case "competitor":
		return pick(r, competitors)
	case "n":
		return strconv.Itoa(50 + r.IntN(60)*50)
	case "seats":
		return strconv.Itoa(10 + r.IntN(200)*10)
	case "price":
		return strconv.Itoa(600 + r.IntN(120)*100)
	case "money":
		if en {
			return fmt.Sprintf("$%dk", 20+r.IntN(100)*10)
		}
		return fmt.Sprintf("%d万", 5+r.IntN(100)*5)
	case "pct":
		return strconv.Itoa(5 + r.IntN(26))
	case "weeks":
		return strconv.Itoa(1 + r.IntN(12))
	case "year":
		return strconv.Itoa(2 + r.IntN(3))
	}
	panic("corpus: unknown slot " + name)
}

// wordSlots are the slots filled with a word of the sentence's language:
// Chinese, English.
var wordSlots = map[string][2][]string{
	"other_product": {productsZH, productsEN},
	"feature":       {featuresZH, featuresEN},
	"person":        {rolesZH, rolesEN},
	"rep":           {repNamesZH, repNamesEN},
	"day":           {daysZH, daysEN},
}

// Vocabulary. Product i is the same product in both languages.
var (
	productsZH  = []string{"智能销售助手", "会话分析平台", "销售数据看板", "CRM 集成模块", "呼叫中心系统", "企业微信插件", "销售培训系统", "客户成功平台", "智能质检系统", "商机管理系统"}
	productsEN  = []string{"Sales Assistant", "Conversation Analytics", "Revenue Dashboard", "CRM Connector", "Call Center Suite", "WeCom Plugin", "Coaching Studio", "Customer Success Hub", "Quality Inspection", "Pipeline Manager"}
	companiesZH = []string{"华信科技", "蓝海集团", "中科智联", "远航物流", "金桥银行", "星辰教育", "博远医疗", "东方汽车", "天合保险", "锦程地产", "长风证券", "瑞丰食品", "北辰制造", "海纳零售", "云帆软件", "万通电商", "鼎盛能源", "华美家居", "新锐传媒", "安达快递"}
	companiesEN = []string{"Acme Corp", "Globex", "Initech", "Northwind Traders", "Contoso", "Umbrella Health", "Stark Logistics", "Wayne Financial", "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Cyberdyne Robotics", "Wonka Retail", "Oceanic Airlines", "Gringotts Bank", "Pied Piper", "Massive Dynamic", "Aperture Labs", "Monarch Insurance"}
	competitors = []string{"Gong", "Chorus", "Salesloft", "Outreach", "Clari", "云听", "声谱", "智语", "销氪", "探迹"}
	featuresZH  = []string{"数据安全", "私有化部署", "单点登录", "权限管理", "实时转写", "智能质检", "话术推荐", "API 接口", "多语言识别", "审计日志", "数据导出", "移动端"}
	featuresEN  = []string{"single sign-on", "data residency", "role-based access", "real-time transcription", "API access", "audit logs", "security review", "on-premise deployment", "multilingual transcription", "mobile app", "data export", "custom trackers"}
	rolesZH     = []string{"王总", "李经理", "张总监", "陈工", "刘总", "财务总监", "采购部", "法务", "IT 负责人", "老板"}
	rolesEN     = []string{"our CFO", "the procurement team", "legal", "my manager", "the VP of Sales", "IT security", "the CEO", "Sarah from finance", "Mike in ops", "the board"}
	repNamesZH  = []string{"小李", "小王", "小张", "小陈", "小刘", "小杨", "小周", "小吴"}
	repNamesEN  = []string{"Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Drew"}
	peopleZH    = []string{"王总", "李经理", "张总监", "陈工", "刘总", "赵经理", "孙总", "周主管", "吴工", "郑经理"}
	peopleEN    = []string{"Sarah Chen", "Mike Johnson", "Emily Davis", "David Kim", "Laura Smith", "James Brown", "Olivia Wang", "Daniel Lee", "Sophia Garcia", "Ryan Miller"}
	daysZH      = []string{"周一", "周二", "周三", "周四", "周五", "下周一", "下周二", "下周三", "月底", "季度末", "明天", "后天"}
	daysEN      = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next Monday", "next Tuesday", "the end of the month", "the end of the quarter", "tomorrow", "Friday afternoon"}
	callKindsEN = []string{"discovery call", "demo", "pricing discussion", "follow-up", "kickoff", "renewal call"}

	openersZH = []string{
		"您好，我是迈维的{rep}，今天主要想跟您聊一下{product}。",
		"{person}您好，感谢您抽出时间，我们今天聊聊{product}的方案。",
		"喂，您好，请问是{company}吗？我是迈维的{rep}。",
		"大家好，今天的会议主要是演示一下{product}。",
	}
	openersEN = []string{
		"Hi, this is {rep} from Megaview, thanks for taking the time today.",
		"Thanks for joining, today I'd like to walk you through the {product}.",
		"Hello, is this {company}? This is {rep} calling from Megaview.",
		"Good morning everyone, the plan today is a short demo of the {product}.",
	}
	repZH = []string{
		"我们的{product}已经服务了超过{n}家企业客户。",
		"请问贵公司今年在这块的预算大概是多少？",
		"这个方案的报价是每个席位每年{price}元。",
		"如果签{year}年的合同，我们可以给到{pct}%的折扣。",
		"我们支持{feature}，这也是很多金融客户比较关心的。",
		"要不我们先安排两周的试用，您看可以吗？",
		"实施周期一般是{weeks}周，包括培训和上线。",
		"下一步我这边整理一份方案，{day}发给您。",
		"决策人这边除了您还有哪些同事需要参与？",
		"和{competitor}相比，我们在中文识别准确率上更有优势。",
		"续约的话价格可以保持不变。",
		"您现在团队里大概有多少个销售？",
		"我们可以和您现有的CRM系统做集成。",
		"关于数据安全，我们通过了等保三级认证。",
		"请问您这边的采购流程一般是怎样的？",
		"我们的客户成功团队会全程跟进上线。",
		"这个功能在{other_product}里也有，可以一起打包。",
		"报价单我{day}发到您邮箱，您看方便吗？",
		"您觉得目前最大的痛点是什么？",
		"合同模板我们可以先发给法务看一下。",
		"我们上个季度刚帮{company}的同行做了一个类似的项目。",
		"如果预算有限，我们也有按季度付费的方式。",
	}
	customerZH = []string{
		"我们今年的预算比较有限，大概在{money}左右。",
		"你们的价格是怎么算的？",
		"这个折扣还能再谈吗？",
		"我们现在用的是{competitor}，切换成本有点高。",
		"数据安全这块我们要求比较严格，需要私有化部署。",
		"合同需要走法务审批，大概要{weeks}周。",
		"采购流程比较长，要{person}签字才行。",
		"能不能跟我们的CRM系统集成？",
		"试用期间有没有技术支持？",
		"我们团队大概有{seats}个销售。",
		"我需要跟{person}商量一下再答复你。",
		"上线之后培训怎么安排？",
		"{feature}这个功能对我们很重要。",
		"报价能不能再便宜一点？",
		"你们有没有同行业的成功案例？",
		"预算审批要等到{day}才能下来。",
		"我们更关心的是销售团队的转化率。",
		"续约的时候价格会涨吗？",
		"实施需要我们这边配合哪些工作？",
		"先把方案发过来我们内部评估一下吧。",
	}
	repEN = []string{
		"Our {product} is used by more than {n} sales teams.",
		"What budget have you set aside for this project this year?",
		"We price per seat, and the list price is {price} dollars per user per year.",
		"If you sign a {year}-year contract we can offer a {pct}% discount.",
		"We support {feature} out of the box.",
		"How about a two-week trial so your team can see the value?",
		"Implementation usually takes {weeks} weeks including onboarding.",
		"I'll send over a proposal by {day}.",
		"Who else is involved in the decision besides you?",
		"Compared with {competitor}, our transcription accuracy is much higher.",
		"Renewal pricing stays the same for the first two years.",
		"How many reps are on your team today?",
		"We integrate with your CRM, so notes are logged automatically.",
		"We passed a third-party security review last quarter.",
		"What does your procurement process look like?",
		"Our customer success team will stay with you through go-live.",
		"That feature is also part of the {other_product}, we can bundle them.",
		"What is the biggest challenge for your sales team right now?",
		"I can send the contract template to your legal team today.",
		"If the budget is tight we also offer quarterly billing.",
	}
	customerEN = []string{
		"Our budget is pretty tight this quarter, around {money}.",
		"How does your pricing work for larger teams?",
		"Is there any room on the discount?",
		"We're currently using {competitor} and switching is a big effort.",
		"A security review is mandatory for us before we sign anything.",
		"The contract has to go through legal, which usually takes {weeks} weeks.",
		"Procurement needs sign-off from {person}.",
		"Can it integrate with our CRM?",
		"Do you offer support during the trial?",
		"We have about {seats} reps on the team.",
		"Let me check with {person} and get back to you.",
		"What does onboarding look like after go-live?",
		"{feature} is a must-have for us.",
		"Can you do better on the price?",
		"Do you have any case studies in our industry?",
		"Budget approval won't come through until {day}.",
		"What we really care about is the win rate of the team.",
		"Will the price go up at renewal?",
		"Send us the proposal and we'll review it internally.",
		"We need data residency in China for compliance reasons.",
	}
	backchannelsZH = []string{"嗯", "好的", "对", "是的", "明白", "嗯嗯", "可以", "没问题", "哦", "对对对"}
	backchannelsEN = []string{"ok", "right", "yeah", "sure", "got it", "makes sense", "uh-huh", "great", "I see", "sounds good"}
)
