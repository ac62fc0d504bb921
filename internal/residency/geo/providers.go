package geo

// r is shorthand for a Region in the tables below.
func r(country, city string) Region { return Region{Country: country, City: city} }

// builtinProviders is the table of common providers' regions. Keys are
// lower case, as providers write them in their APIs. Where a provider
// names zones inside a region ("eu-north-1a", "fr-par-2"), Lookup finds the
// region from the zone.
func builtinProviders() map[string]Provider {
	return map[string]Provider{
		"aws": {
			Name: "Amazon Web Services", ParentCompany: "Amazon.com, Inc.", Parent: "US",
			Regions: map[string]Region{
				"us-east-1": r("US", "N. Virginia"), "us-east-2": r("US", "Ohio"),
				"us-west-1": r("US", "N. California"), "us-west-2": r("US", "Oregon"),
				"us-gov-east-1": r("US", "GovCloud (US-East)"), "us-gov-west-1": r("US", "GovCloud (US-West)"),
				"ca-central-1": r("CA", "Montreal"), "ca-west-1": r("CA", "Calgary"),
				"mx-central-1": r("MX", "Querétaro"), "sa-east-1": r("BR", "São Paulo"),
				"eu-central-1": r("DE", "Frankfurt"), "eu-central-2": r("CH", "Zurich"),
				"eu-west-1": r("IE", "Dublin"), "eu-west-2": r("GB", "London"), "eu-west-3": r("FR", "Paris"),
				"eu-south-1": r("IT", "Milan"), "eu-south-2": r("ES", "Aragón"),
				"eu-north-1":   r("SE", "Stockholm"),
				"il-central-1": r("IL", "Tel Aviv"), "me-south-1": r("BH", "Bahrain"), "me-central-1": r("AE", "UAE"),
				"af-south-1": r("ZA", "Cape Town"),
				"ap-east-1":  r("HK", "Hong Kong"),
				"ap-south-1": r("IN", "Mumbai"), "ap-south-2": r("IN", "Hyderabad"),
				"ap-southeast-1": r("SG", "Singapore"), "ap-southeast-2": r("AU", "Sydney"),
				"ap-southeast-3": r("ID", "Jakarta"), "ap-southeast-4": r("AU", "Melbourne"),
				"ap-southeast-5": r("MY", "Malaysia"), "ap-southeast-7": r("TH", "Thailand"),
				"ap-northeast-1": r("JP", "Tokyo"), "ap-northeast-2": r("KR", "Seoul"), "ap-northeast-3": r("JP", "Osaka"),
			},
		},
		"gcp": {
			Name: "Google Cloud", ParentCompany: "Alphabet Inc.", Parent: "US",
			Regions: map[string]Region{
				"us-central1": r("US", "Iowa"), "us-east1": r("US", "South Carolina"), "us-east4": r("US", "N. Virginia"),
				"us-east5": r("US", "Columbus"), "us-south1": r("US", "Dallas"), "us-west1": r("US", "Oregon"),
				"us-west2": r("US", "Los Angeles"), "us-west3": r("US", "Salt Lake City"), "us-west4": r("US", "Las Vegas"),
				"northamerica-northeast1": r("CA", "Montréal"), "northamerica-northeast2": r("CA", "Toronto"),
				"northamerica-south1": r("MX", "Querétaro"),
				"southamerica-east1":  r("BR", "São Paulo"), "southamerica-west1": r("CL", "Santiago"),
				"europe-north1": r("FI", "Hamina"), "europe-north2": r("SE", "Stockholm"),
				"europe-west1": r("BE", "St. Ghislain"), "europe-west2": r("GB", "London"),
				"europe-west3": r("DE", "Frankfurt"), "europe-west4": r("NL", "Eemshaven"),
				"europe-west6": r("CH", "Zurich"), "europe-west8": r("IT", "Milan"), "europe-west9": r("FR", "Paris"),
				"europe-west10": r("DE", "Berlin"), "europe-west12": r("IT", "Turin"),
				"europe-central2": r("PL", "Warsaw"), "europe-southwest1": r("ES", "Madrid"),
				"me-central1": r("QA", "Doha"), "me-central2": r("SA", "Dammam"), "me-west1": r("IL", "Tel Aviv"),
				"africa-south1": r("ZA", "Johannesburg"),
				"asia-east1":    r("TW", "Changhua County"), "asia-east2": r("HK", "Hong Kong"),
				"asia-northeast1": r("JP", "Tokyo"), "asia-northeast2": r("JP", "Osaka"), "asia-northeast3": r("KR", "Seoul"),
				"asia-south1": r("IN", "Mumbai"), "asia-south2": r("IN", "Delhi"),
				"asia-southeast1": r("SG", "Singapore"), "asia-southeast2": r("ID", "Jakarta"),
				"australia-southeast1": r("AU", "Sydney"), "australia-southeast2": r("AU", "Melbourne"),
			},
		},
		"azure": {
			Name: "Microsoft Azure", ParentCompany: "Microsoft Corporation", Parent: "US",
			Regions: map[string]Region{
				"norwayeast": r("NO", "Oslo"), "norwaywest": r("NO", "Stavanger"),
				"swedencentral": r("SE", "Gävle"), "swedensouth": r("SE", "Staffanstorp"),
				"northeurope": r("IE", "Dublin"), "westeurope": r("NL", "Amsterdam"),
				"germanywestcentral": r("DE", "Frankfurt"), "germanynorth": r("DE", "Berlin"),
				"francecentral": r("FR", "Paris"), "francesouth": r("FR", "Marseille"),
				"switzerlandnorth": r("CH", "Zurich"), "switzerlandwest": r("CH", "Geneva"),
				"uksouth": r("GB", "London"), "ukwest": r("GB", "Cardiff"),
				"polandcentral": r("PL", "Warsaw"), "italynorth": r("IT", "Milan"), "spaincentral": r("ES", "Madrid"),
				"eastus": r("US", "Virginia"), "eastus2": r("US", "Virginia"), "centralus": r("US", "Iowa"),
				"northcentralus": r("US", "Illinois"), "southcentralus": r("US", "Texas"),
				"westus": r("US", "California"), "westus2": r("US", "Washington"), "westus3": r("US", "Arizona"),
				"westcentralus": r("US", "Wyoming"),
				"canadacentral": r("CA", "Toronto"), "canadaeast": r("CA", "Quebec City"),
				"mexicocentral": r("MX", "Querétaro"), "brazilsouth": r("BR", "São Paulo State"),
				"japaneast": r("JP", "Tokyo"), "japanwest": r("JP", "Osaka"),
				"koreacentral": r("KR", "Seoul"), "koreasouth": r("KR", "Busan"),
				"australiaeast": r("AU", "New South Wales"), "australiasoutheast": r("AU", "Victoria"),
				"australiacentral": r("AU", "Canberra"),
				"centralindia":     r("IN", "Pune"), "southindia": r("IN", "Chennai"), "westindia": r("IN", "Mumbai"),
				"southeastasia": r("SG", "Singapore"), "eastasia": r("HK", "Hong Kong"),
				"uaenorth": r("AE", "Dubai"), "qatarcentral": r("QA", "Doha"), "israelcentral": r("IL", "Israel"),
				"southafricanorth": r("ZA", "Johannesburg"), "newzealandnorth": r("NZ", "Auckland"),
			},
		},
		"oracle": {
			Name: "Oracle Cloud Infrastructure", ParentCompany: "Oracle Corporation", Parent: "US",
			Regions: map[string]Region{
				"eu-frankfurt-1": r("DE", "Frankfurt"), "eu-amsterdam-1": r("NL", "Amsterdam"),
				"eu-stockholm-1": r("SE", "Stockholm"), "eu-zurich-1": r("CH", "Zurich"),
				"eu-madrid-1": r("ES", "Madrid"), "eu-marseille-1": r("FR", "Marseille"),
				"eu-milan-1": r("IT", "Milan"), "eu-paris-1": r("FR", "Paris"),
				"uk-london-1": r("GB", "London"), "uk-cardiff-1": r("GB", "Newport"),
				"us-ashburn-1": r("US", "Ashburn"), "us-phoenix-1": r("US", "Phoenix"),
				"us-sanjose-1": r("US", "San Jose"), "us-chicago-1": r("US", "Chicago"),
				"ca-toronto-1": r("CA", "Toronto"), "ca-montreal-1": r("CA", "Montreal"),
				"mx-queretaro-1": r("MX", "Querétaro"),
				"sa-saopaulo-1":  r("BR", "São Paulo"), "sa-vinhedo-1": r("BR", "Vinhedo"), "sa-santiago-1": r("CL", "Santiago"),
				"ap-tokyo-1": r("JP", "Tokyo"), "ap-osaka-1": r("JP", "Osaka"),
				"ap-seoul-1": r("KR", "Seoul"), "ap-chuncheon-1": r("KR", "Chuncheon"),
				"ap-sydney-1": r("AU", "Sydney"), "ap-melbourne-1": r("AU", "Melbourne"),
				"ap-mumbai-1": r("IN", "Mumbai"), "ap-hyderabad-1": r("IN", "Hyderabad"),
				"ap-singapore-1": r("SG", "Singapore"),
				"me-jeddah-1":    r("SA", "Jeddah"), "me-dubai-1": r("AE", "Dubai"), "me-abudhabi-1": r("AE", "Abu Dhabi"),
				"il-jerusalem-1": r("IL", "Jerusalem"), "af-johannesburg-1": r("ZA", "Johannesburg"),
			},
		},
		"digitalocean": {
			Name: "DigitalOcean", ParentCompany: "DigitalOcean Holdings, Inc.", Parent: "US",
			Regions: map[string]Region{
				"nyc1": r("US", "New York"), "nyc2": r("US", "New York"), "nyc3": r("US", "New York"),
				"sfo1": r("US", "San Francisco"), "sfo2": r("US", "San Francisco"), "sfo3": r("US", "San Francisco"),
				"atl1": r("US", "Atlanta"), "tor1": r("CA", "Toronto"),
				"ams2": r("NL", "Amsterdam"), "ams3": r("NL", "Amsterdam"),
				"lon1": r("GB", "London"), "fra1": r("DE", "Frankfurt"),
				"sgp1": r("SG", "Singapore"), "blr1": r("IN", "Bangalore"), "syd1": r("AU", "Sydney"),
			},
		},
		"hetzner": {
			Name: "Hetzner", ParentCompany: "Hetzner Online GmbH", Parent: "DE",
			Regions: map[string]Region{
				"fsn1": r("DE", "Falkenstein"), "nbg1": r("DE", "Nuremberg"), "hel1": r("FI", "Helsinki"),
				"ash": r("US", "Ashburn"), "hil": r("US", "Hillsboro"), "sin": r("SG", "Singapore"),
				// Location groups of the Hetzner Cloud API.
				"eu-central": r("DE", "Falkenstein and Nuremberg"),
			},
		},
		"ovh": {
			Name: "OVHcloud", ParentCompany: "OVH Groupe SA", Parent: "FR",
			Regions: map[string]Region{
				"gra": r("FR", "Gravelines"), "sbg": r("FR", "Strasbourg"), "rbx": r("FR", "Roubaix"),
				"par": r("FR", "Paris"), "eu-west-par": r("FR", "Paris"),
				"lim": r("DE", "Limburg"), "de": r("DE", "Limburg"),
				"eri": r("GB", "London"), "uk": r("GB", "London"),
				"waw": r("PL", "Warsaw"), "bhs": r("CA", "Beauharnois"), "tor": r("CA", "Toronto"),
				"vin": r("US", "Vint Hill"), "hil": r("US", "Hillsboro"),
				"sgp": r("SG", "Singapore"), "syd": r("AU", "Sydney"), "ynm": r("IN", "Mumbai"),
			},
		},
		"scaleway": {
			Name: "Scaleway", ParentCompany: "Iliad SA", Parent: "FR",
			Regions: map[string]Region{
				"fr-par": r("FR", "Paris"), "nl-ams": r("NL", "Amsterdam"), "pl-waw": r("PL", "Warsaw"),
			},
		},
		"upcloud": {
			Name: "UpCloud", ParentCompany: "UpCloud Ltd", Parent: "FI",
			Regions: map[string]Region{
				"fi-hel1": r("FI", "Helsinki"), "fi-hel2": r("FI", "Helsinki"),
				"se-sto1": r("SE", "Stockholm"), "dk-cph1": r("DK", "Copenhagen"),
				"de-fra1": r("DE", "Frankfurt"), "nl-ams1": r("NL", "Amsterdam"),
				"pl-waw1": r("PL", "Warsaw"), "es-mad1": r("ES", "Madrid"), "uk-lon1": r("GB", "London"),
				"us-chi1": r("US", "Chicago"), "us-nyc1": r("US", "New York"), "us-sjo1": r("US", "San Jose"),
				"sg-sin1": r("SG", "Singapore"), "au-syd1": r("AU", "Sydney"),
			},
		},
	}
}

// providerAliases are other names people give the built-in providers.
func providerAliases() map[string]string {
	return map[string]string{
		"amazon": "aws", "google": "gcp", "google-cloud": "gcp", "microsoft": "azure",
		"oci": "oracle", "ovhcloud": "ovh", "do": "digitalocean",
	}
}
