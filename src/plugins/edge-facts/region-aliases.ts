// English exonyms and DB-IP spellings of subdivisions that the generic rules in
// regions.ts do not derive from the (mostly local-language) iso-3166 names.
// Country → name → ISO 3166-2 code suffix. Names are matched after the same
// normalisation as lookups (case, accents, punctuation, designators such as
// 'Region' or 'Province' do not matter). Codes are first-level subdivisions of
// iso-3166 v4 unless noted; where iso-3166 predates a reform (FR 2016 regions
// are current, NO 2024 counties are not), old names map to the unit that
// contains them in iso-3166.
export const regionAliases: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  AE: {
    'Abu Dhabi': 'AZ', Dubai: 'DU', Sharjah: 'SH', Ajman: 'AJ', Fujairah: 'FU',
    'Ras Al Khaimah': 'RK', 'Umm Al Quwain': 'UQ'
  },
  AF: { Paktia: 'PIA', Kabul: 'KAB', Herat: 'HER', Kandahar: 'KAN', Balkh: 'BAL', Nangarhar: 'NAN' },
  AL: { Tirana: '11', Durres: '02', Elbasan: '03', Fier: '04', Korce: '06', Shkoder: '10', Vlore: '12' },
  AM: { Yerevan: 'ER', Gegharkunik: 'GR', Shirak: 'SH', Lori: 'LO', Kotayk: 'KT', Syunik: 'SU', Tavush: 'TV', 'Vayots Dzor': 'VD', Aragatsotn: 'AG' },
  AR: {
    'Buenos Aires F.D.': 'C', 'Autonomous City of Buenos Aires': 'C', 'Ciudad de Buenos Aires': 'C',
    'Buenos Aires Province': 'B'
  },
  AT: {
    Vienna: '9', 'Lower Austria': '3', 'Upper Austria': '4', Styria: '6', Tyrol: '7',
    Carinthia: '2'
  },
  AU: { ACT: 'ACT' },
  AZ: { 'Shaki City': 'SA', 'Yevlax City': 'YE', Shabran: 'SBN', Baku: 'BA', Ganja: 'GA', Sumqayit: 'SM' },
  BA: { 'Federation of B&H': 'BIH', 'Federation of Bosnia and Herzegovina': 'BIH', Srpska: 'SRP', 'Republika Srpska': 'SRP', 'Brcko': 'BRC' },
  BD: { Chittagong: 'B', Chattogram: 'B', Barisal: 'A', Barishal: 'A' },
  BE: {
    Flanders: 'VLG', 'Flemish Region': 'VLG', Wallonia: 'WAL', 'Walloon Region': 'WAL', Brussels: 'BRU',
    'Brussels-Capital Region': 'BRU', Antwerp: 'VAN', 'Flemish Brabant': 'VBR', 'Walloon Brabant': 'WBR',
    'East Flanders': 'VOV', 'West Flanders': 'VWV', Liege: 'WLG'
  },
  BG: { 'Sofia-grad': '22', 'Sofia City': '22', 'Sofia Capital': '22', 'Sofia Province': '23' },
  BH: {
    Manama: '13', 'Capital Governorate': '13', 'Southern Governorate': '14', 'Northern Governorate': '17',
    'Al-muhafazat As-samaliyah': '17', Muharraq: '15'
  },
  BO: { Beni: 'B' },
  BR: { 'Federal District': 'DF' },
  BY: {
    'Minsk City': 'HM', Minsk: 'MI', 'Minsk Region': 'MI', 'Homyel Voblasc': 'HO', Gomel: 'HO', Homyel: 'HO',
    Vitebsk: 'VI', Viciebsk: 'VI', Mogilev: 'MA', Mahilyow: 'MA', Grodnenskaya: 'HR', Grodno: 'HR', Hrodna: 'HR'
  },
  CD: { 'North Kivu': 'NK', 'South Kivu': 'SK', 'Kongo Central': 'BC', 'Bas-Congo': 'BC' },
  CH: {
    Geneva: 'GE', 'Saint Gall': 'SG', 'St. Gallen': 'SG', Lucerne: 'LU', Grisons: 'GR', Berne: 'BE',
    'Basel-City': 'BS', 'Basel-Country': 'BL', Zurich: 'ZH'
  },
  CI: { Abidjan: 'AB' },
  CL: {
    Araucania: 'AR', "O'Higgins": 'LI', Aysen: 'AI', 'Santiago Metropolitan': 'RM', Magallanes: 'MA',
    Biobio: 'BI', Nuble: 'NB'
  },
  CN: {
    'Inner Mongolia': 'NM', Tibet: 'XZ', Xinjiang: 'XJ', Guangxi: 'GX', Ningxia: 'NX', 'Hong Kong': 'HK',
    Macau: 'MO', Macao: 'MO', Taiwan: 'TW'
  },
  CO: { 'San Andres y Providencia': 'SAP', 'Bogota D.C.': 'DC', Bogota: 'DC' },
  CU: { Havana: '03', 'La Habana': '03' },
  CY: { Nicosia: '01', Limassol: '02', Larnaca: '03', Famagusta: '04', Paphos: '05', Kyrenia: '06' },
  CZ: {
    Prague: '10', 'South Moravian': '64', 'Central Bohemia': '20', 'Central Bohemian': '20',
    'Moravian-Silesian': '80', Plzen: '32', Pilsen: '32', Carlsbad: '41', 'Karlovy Vary': '41',
    'South Bohemian': '31', 'South Bohemia': '31', 'Usti nad Labem': '42', 'Hradec Kralove': '52',
    Olomouc: '71', Pardubice: '53', Liberec: '51', Zlin: '72', Vysocina: '63'
  },
  DE: {
    Bavaria: 'BY', Hesse: 'HE', 'North Rhine-Westphalia': 'NW', 'Lower Saxony': 'NI', Saxony: 'SN',
    'Saxony-Anhalt': 'ST', Thuringia: 'TH', 'Rhineland-Palatinate': 'RP', 'Mecklenburg-Western Pomerania': 'MV',
    'Baden-Wuerttemberg': 'BW', 'State of Berlin': 'BE', 'City state Bremen': 'HB',
    'Free Hanseatic City of Bremen': 'HB', 'Free and Hanseatic City of Hamburg': 'HH'
  },
  DK: {
    'Capital Region': '84', 'Capital Region of Denmark': '84', 'Central Jutland': '82', 'North Denmark': '81',
    'South Denmark': '83', 'Southern Denmark': '83', Zealand: '85'
  },
  DZ: { Algiers: '16', 'El Menia': '58', 'El Mghair': '57' },
  EE: { Tartu: '79', Saare: '74', Harju: '37' },
  EG: {
    Cairo: 'C', Giza: 'GZ', Alexandria: 'ALX', Qalyubia: 'KB', Beheira: 'BH', Sharqia: 'SHR',
    Gharbia: 'GH', Dakahlia: 'DK', Monufia: 'MNF', Minya: 'MN', 'Red Sea': 'BA', Faiyum: 'FYM',
    'Beni Suweif': 'BNS', Damietta: 'DT', 'South Sinai': 'JS', 'North Sinai': 'SIN', Qena: 'KN',
    Ismailia: 'IS', 'Port Said': 'PTS', Sohag: 'SHG', 'Kafr el-Sheikh': 'KFS', Suez: 'SUZ', Luxor: 'LX',
    'New Valley': 'WAD', Asyut: 'AST', Aswan: 'ASN', Matrouh: 'MT'
  },
  ER: { Maekel: 'MA' },
  ES: {
    Andalusia: 'AN', Aragon: 'AR', Asturias: 'AS', 'Balearic Islands': 'IB', 'Basque Country': 'PV',
    'Canary Islands': 'CN', Cantabria: 'CB', 'Castille and Leon': 'CL', 'Castile and Leon': 'CL',
    'Castille-La Mancha': 'CM', 'Castile-La Mancha': 'CM', Catalonia: 'CT', Ceuta: 'CE',
    Extremadura: 'EX', Galicia: 'GA', 'La Rioja': 'RI', Madrid: 'MD', Melilla: 'ML', Murcia: 'MC',
    Navarre: 'NC', Navarra: 'NC', Valencia: 'VC', 'Valencian Community': 'VC'
  },
  ET: { 'Addis Ababa': 'AA', Amhara: 'AM', Harari: 'HA', Oromia: 'OR', Tigray: 'TI', 'Dire Dawa': 'DD', Afar: 'AF', Somali: 'SO', Sidama: 'SI' },
  FI: {
    Tampere: '11', 'Southwest Finland': '19', 'Central Finland': '08', 'North Ostrobothnia': '14',
    'Northern Ostrobothnia': '14', 'South Karelia': '02', 'North Savo': '15', 'Northern Savonia': '15',
    'South Ostrobothnia': '03', 'Southern Ostrobothnia': '03', Ostrobothnia: '12', 'North Karelia': '13',
    'South Savo': '04', 'Southern Savonia': '04', Lapland: '10', 'Central Ostrobothnia': '07',
    'Tavastia Proper': '06', 'Paijanne Tavastia': '16', Aland: '01'
  },
  FR: {
    // pre-2016 regions → the region that contains them now
    'Rhone-Alpes': 'ARA', Auvergne: 'ARA', Aquitaine: 'NAQ', Limousin: 'NAQ', 'Poitou-Charentes': 'NAQ',
    'New Aquitaine': 'NAQ', Brittany: 'BRE', Normandy: 'NOR', 'Upper Normandy': 'NOR', 'Lower Normandy': 'NOR',
    Provence: 'PAC', Bourgogne: 'BFC', Burgundy: 'BFC', 'Franche-Comte': 'BFC', Corsica: '20R',
    Alsace: 'GES', Lorraine: 'GES', 'Champagne-Ardenne': 'GES', 'Nord-Pas-de-Calais': 'HDF', Picardy: 'HDF',
    Picardie: 'HDF', Occitania: 'OCC', 'Languedoc-Roussillon': 'OCC', 'Midi-Pyrenees': 'OCC',
    Centre: 'CVL', 'Centre-Val de Loire': 'CVL'
  },
  GE: { 'Samegrelo and Zemo Svaneti': 'SZ', Kakheti: 'KA', Tbilisi: 'TB' },
  GL: { Sermersooq: 'SM' },
  GR: {
    Attica: 'I', 'Central Macedonia': 'B', Crete: 'M', 'West Greece': 'G', 'Western Greece': 'G',
    Thessaly: 'E', Peloponnese: 'J', 'East Macedonia and Thrace': 'A', 'Eastern Macedonia and Thrace': 'A',
    'South Aegean': 'L', 'Central Greece': 'H', 'North Aegean': 'K', Epirus: 'D', 'Ionian Islands': 'F',
    'West Macedonia': 'C', 'Western Macedonia': 'C', 'Mount Athos': '69'
  },
  GT: { Suchitepeque: '10' },
  HN: { 'Bay Islands': 'IB' },
  HR: {
    'City of Zagreb': '21', Zagreb: '21', 'Zagreb County': '01', 'Split-Dalmatia': '17', Istria: '18',
    'Primorje-Gorski Kotar': '08', 'Osijek-Baranja': '14', 'Krapina-Zagorje': '02', Zadar: '13',
    Varazdin: '05', 'Brod-Posavina': '12', 'Vukovar-Srijem': '16', Medimurje: '20',
    'Sisak-Moslavina': '03', 'Sibenik-Knin': '15', Karlovac: '04', 'Dubrovnik-Neretva': '19',
    'Pozega-Slavonia': '11', 'Koprivnica-Krizevci': '06', 'Bjelovar-Bilogora': '07', 'Lika-Senj': '09',
    'Virovitica-Podravina': '10'
  },
  HU: { Csongrad: 'CS', Veszprem: 'VE', 'Veszprem County': 'VE' },
  ID: {
    Jakarta: 'JK', 'West Java': 'JB', 'Central Java': 'JT', 'East Java': 'JI', 'North Sumatra': 'SU',
    'West Sumatra': 'SB', 'South Sumatra': 'SS', 'North Sulawesi': 'SA', 'South Sulawesi': 'SN',
    'Central Sulawesi': 'ST', 'Southeast Sulawesi': 'SG', 'West Sulawesi': 'SR', 'West Kalimantan': 'KB',
    'East Kalimantan': 'KI', 'South Kalimantan': 'KS', 'Central Kalimantan': 'KT', 'North Kalimantan': 'KU',
    'West Nusa Tenggara': 'NB', 'East Nusa Tenggara': 'NT', 'Riau Islands': 'KR',
    'Bangka-Belitung Islands': 'BB', 'Bangka Belitung': 'BB', Papua: 'PA', 'West Papua': 'PB',
    'Southwest Papua': 'PD', 'Highland Papua': 'PE', 'South Papua': 'PS', 'Central Papua': 'PT',
    Maluku: 'MA', 'North Maluku': 'MU', 'Special Region of Yogyakarta': 'YO'
  },
  IE: { Connacht: 'C' },
  IL: {
    'Central District': 'M', Haifa: 'HA', Jerusalem: 'JM', 'Southern District': 'D', 'Northern District': 'Z',
    'Tel Aviv': 'TA'
  },
  IN: { 'Andaman and Nicobar': 'AN', 'National Capital Territory of Delhi': 'DL', Pondicherry: 'PY' },
  IQ: {
    // the Kurdistan Region's governorates are second-level in ISO 3166-2:IQ
    Sulaymaniyah: 'SU', Erbil: 'AR', Duhok: 'DA', Dohuk: 'DA',
    Basra: 'BA', Najaf: 'NA', Nineveh: 'NI', Baghdad: 'BG', Karbala: 'KA', Kirkuk: 'KI', Anbar: 'AN',
    Babylon: 'BB', Diyala: 'DI', 'Dhi Qar': 'DQ', Maysan: 'MA', Muthanna: 'MU', Qadisiyyah: 'QA',
    'Salah ad Din': 'SD', Wasit: 'WA'
  },
  IR: {
    Isfahan: '10', 'East Azerbaijan': '03', 'West Azerbaijan': '04', 'Razavi Khorasan': '09',
    'North Khorasan': '28', 'South Khorasan': '29', Kurdistan: '12', 'Sistan and Baluchestan': '11',
    'Chaharmahal and Bakhtiari': '14', 'Kohgiluyeh and Boyer-Ahmad': '17', Tehran: '23'
  },
  IS: {
    'Capital Region': '1', 'Southern Peninsula': '2', West: '3', Westfjords: '4', Northwest: '5',
    Northeast: '6', East: '7', South: '8'
  },
  IT: {
    Lombardy: '25', Piedmont: '21', Tuscany: '52', Sicily: '82', Apulia: '75', Sardinia: '88',
    'The Marches': '57', Marches: '57', Basilicate: '77', 'Aosta Valley': '23', Latium: '62',
    'Trentino-South Tyrol': '32', 'Friuli-Venezia Giulia': '36'
  },
  JO: {
    Amman: 'AM', Balqa: 'BA', Zarqa: 'AZ', Aqaba: 'AQ', Jerash: 'JA', Karak: 'KA', Mafraq: 'MA',
    Tafilah: 'AT', Ajloun: 'AJ', "Ma'an": 'MN', Madaba: 'MD', Irbid: 'IR'
  },
  KE: { 'Nairobi Area': '30', Nairobi: '30' },
  KG: { Bishkek: 'GB', 'Osh City': 'GO', Chuy: 'C', 'Issyk-Kul': 'Y', 'Jalal-Abad': 'J' },
  KH: {
    'Siem Reap': '17', 'Banteay Meanchey': '1', Battambang: '2', 'Kampong Cham': '3', Kandal: '8',
    'Phnom Penh': '12', Sihanoukville: '18', 'Preah Sihanouk': '18', Takeo: '21', 'Prey Veng': '14'
  },
  KR: {
    Seoul: '11', Busan: '26', Daegu: '27', Incheon: '28', Gwangju: '29', Daejeon: '30', Ulsan: '31',
    Gyeonggi: '41', Gangwon: '42', 'North Chungcheong': '43', 'South Chungcheong': '44',
    'North Jeolla': '45', Jeonbuk: '45', 'South Jeolla': '46', 'North Gyeongsang': '47',
    'South Gyeongsang': '48', Jeju: '49', 'Sejong-si': '50', 'Sejong City': '50'
  },
  KZ: {
    Almaty: '75', 'Almaty Oblysy': '19', 'Almaty Region': '19', Karaganda: '35', Kostanay: '39',
    Qostanay: '39', Jetisu: '33', Zhetysu: '33', 'North Kazakhstan': '59', 'East Kazakhstan': '63',
    'West Kazakhstan': '27', Akmola: '11', Aktobe: '15', 'Aktyubinskaya Oblast': '15', Mangystau: '47',
    Kyzylorda: '43', Abai: '10', 'Nur-Sultan': '71', Astana: '71', Turkestan: '61', Atyrau: '23',
    Pavlodar: '55', Zhambyl: '31', Ulytau: '62', Shymkent: '79'
  },
  LA: { 'Vientiane Prefecture': 'VT', 'Vientiane Province': 'VI', Xiangkhoang: 'XI', 'Luang Prabang': 'LP', Champasak: 'CH' },
  LB: {
    Beirut: 'BA', 'Mount Lebanon': 'JL', 'South Governorate': 'JA', 'South Lebanon': 'JA',
    'North Governorate': 'AS', 'North Lebanon': 'AS', Akkar: 'AK', Bekaa: 'BI', 'Baalbek-Hermel': 'BH',
    Nabatieh: 'NA'
  },
  LK: {
    'Western Province': '1', Western: '1', 'Central Province': '2', Central: '2', 'Southern Province': '3',
    Southern: '3', 'Northern Province': '4', Northern: '4', 'Eastern Province': '5', Eastern: '5',
    'North Western Province': '6', 'North Western': '6', 'North Central Province': '7', 'North Central': '7',
    Uva: '8', Sabaragamuwa: '9'
  },
  LS: { 'Butha-Buthe': 'B' },
  LT: {
    // DB-IP names the counties after their seats
    Vilnius: 'VL', Kaunas: 'KU', Klaipeda: 'KL', Siauliai: 'SA', Panevezys: 'PN', Alytus: 'AL',
    Marijampole: 'MR', Taurage: 'TA', Telsiai: 'TE', Utena: 'UT'
  },
  LU: { Luxembourg: 'LU' },
  LV: { Riga: 'RIX', Tukums: '099', Adazi: '011' },
  LY: { Tripoli: 'TB', Benghazi: 'BA', Misrata: 'MI' },
  MA: {
    'Marrakesh-Safi': '07', Oriental: '02', 'Casablanca-Settat': '06', 'Rabat-Sale-Kenitra': '04',
    'Fes-Meknes': '03', 'Tanger-Tetouan-Al Hoceima': '01', 'Souss-Massa': '09', 'Beni Mellal-Khenifra': '05',
    'Draa-Tafilalet': '08'
  },
  MD: { Chisinau: 'CU', Balti: 'BA', Gagauzia: 'GA', Transnistria: 'SN' },
  MG: {
    // 2021 regions → the former province (still first-level in ISO 3166-2:MG) that contains them
    Analamanga: 'T', Vakinankaratra: 'T', Itasy: 'T', Bongolava: 'T', Betsiboka: 'M', Boeny: 'M',
    Atsinanana: 'A', Sava: 'D', Diana: 'D', 'Atsimo-Andrefana': 'U', Anosy: 'U', Androy: 'U',
    'Atsimo-Atsinanana': 'F', 'Haute Matsiatra': 'F'
  },
  MK: { Shtip: '211', 'Staro Nagorichane': '706', Radovish: '409', Studenichani: '813' },
  MM: { Rangoon: '06', Yangon: '06', Mandalay: '04', Naypyidaw: '18' },
  MR: {
    'Nouakchott West': '13', 'Nouakchott Ouest': '13', 'Nouakchott North': '14', 'Nouakchott Nord': '14',
    'Nouakchott South': '15', 'Nouakchott Sud': '15'
  },
  MT: {
    'Il-Marsa': '26', 'Tas-Sliema': '56', 'St. John': '49', 'L-Imsida': '34', 'St. Julian': '48',
    'Il-Gzira': '12', 'Il-Mosta': '32', 'Il-Mellieha': '30', 'In-Naxxar': '38', 'Il-Fgura': '08',
    'Ix-Xghajra': '63', 'Is-Swieqi': '57', 'Hal Ghaxaq': '17', 'St. Venera': '54', 'Haz-Zabbar': '64',
    'Il-Hamrun': '18', 'Ix-Xaghra': '61', 'Hal Gharghur': '15', 'Il-Kalkara': '21', "St. Paul's Bay": '51',
    'St. Lucia': '53', 'St Lawrence': '50', 'Tal-Pieta': '41', 'Il-Gudja': '11', 'Il-Belt Valletta': '60',
    'Birkirkara': '04', 'Ta Xbiex': '58', 'Hal Qormi': '43', 'Hal Tarxien': '59', 'Haz-Zebbug': '66'
  },
  MU: { Rodrigues: 'RO' },
  MV: { 'Kaafu Atoll': '26', Male: 'MLE' },
  MW: { 'Central Region': 'C', 'Southern Region': 'S', 'Northern Region': 'N' },
  MX: {
    'Mexico City': 'CMX', 'Distrito Federal': 'CMX', Veracruz: 'VER', Michoacan: 'MIC', Coahuila: 'COA',
    'State of Mexico': 'MEX'
  },
  MY: { Penang: '07', Malacca: '04', 'Kuala Lumpur': '14', Labuan: '15', Putrajaya: '16' },
  MZ: { 'Maputo City': 'MPM', 'Maputo Province': 'L' },
  NG: { FCT: 'FC', 'Federal Capital Territory': 'FC', Abuja: 'FC' },
  NI: { 'North Caribbean Coast': 'AN', 'South Caribbean Coast': 'AS' },
  NL: {
    'North Holland': 'NH', 'South Holland': 'ZH', 'North Brabant': 'NB', Friesland: 'FR', Guelders: 'GE',
    Zealand: 'ZE'
  },
  NO: {
    // counties restored in 2024 → the 2020–2023 county containing them (iso-3166 v4)
    Akershus: '30', Ostfold: '30', Buskerud: '30', Vestfold: '38', Telemark: '38', Troms: '54',
    Finnmark: '54'
  },
  NP: { 'Gandaki Pradesh': 'P4', 'Sudurpashchim Pradesh': 'P7', 'Koshi Pradesh': 'P1', 'Lumbini Pradesh': 'P5', 'Karnali Pradesh': 'P6', 'Madhesh Pradesh': 'P2', 'Bagmati Pradesh': 'P3' },
  NZ: { Wellington: 'WGN', 'Manawatu-Wanganui': 'MWT' },
  OM: {
    Muscat: 'MA', 'Al Batinah North': 'BS', 'Al Batinah South': 'BJ', Dhofar: 'ZU', 'Al Buraimi': 'BU',
    'Southeastern Governorate': 'SJ', 'South Al Sharqiyah': 'SJ', 'Northeastern Governorate': 'SS',
    'North Al Sharqiyah': 'SS', 'Ad Dhahirah': 'ZA', 'Ad Dakhiliyah': 'DA', 'Al Wusta': 'WU'
  },
  PA: { 'Panama Oeste': '10' },
  PE: { Callao: 'CAL', Cuzco: 'CUS', 'Lima Province': 'LMA', 'Lima Metropolitana': 'LMA' },
  PH: {
    Cordillera: '15', 'Metro Manila': '00', 'National Capital Region': '00', 'Davao Region': '11',
    'Bicol Region': '05', 'Ilocos Region': '01', Bangsamoro: '14'
  },
  PK: {
    Punjab: 'PB', 'Khyber Pakhtunkhwa': 'KP', 'Azad Kashmir': 'JK', 'Gilgit-Baltistan': 'GB',
    Balochistan: 'BA', Islamabad: 'IS'
  },
  PL: {
    Mazovia: '14', Masovia: '14', Silesia: '24', 'Greater Poland': '30', 'Lesser Poland': '12',
    Pomerania: '22', 'Lower Silesia': '02', Lodz: '10', 'West Pomerania': '32', Lublin: '06',
    Subcarpathia: '18', Subcarpathian: '18', 'Warmia-Masuria': '28', 'Warmian-Masurian': '28',
    Podlasie: '20', Lubusz: '08', Opole: '16', 'Kuyavian-Pomeranian': '04', 'Kuyavia-Pomerania': '04',
    'Holy Cross': '26'
  },
  PT: { Lisbon: '11', Azores: '20', Madeira: '30' },
  QA: {
    Doha: 'DA', 'Baladiyat ad Dawhah': 'DA', 'Baladiyat ar Rayyan': 'RA', 'Madinat ash Shamal': 'MS',
    'Al Daayen': 'ZA', 'Al Khor': 'KH', 'Al-Shahaniya': 'SH', 'Al Wakrah': 'WA', 'Umm Salal': 'US'
  },
  RO: { Bucharest: 'B' },
  RS: { Belgrade: '00' },
  RU: {
    Moscow: 'MOW', 'Moscow Oblast': 'MOS', 'St.-Petersburg': 'SPE', 'Saint Petersburg': 'SPE',
    'Leningrad Oblast': 'LEN', 'Samara Oblast': 'SAM', 'Nizhny Novgorod': 'NIZ', Primorye: 'PRI',
    'Primorsky Krai': 'PRI', 'Altay Kray': 'ALT', 'Altai Krai': 'ALT', Altai: 'AL', 'Altai Republic': 'AL',
    Kuzbass: 'KEM', Kemerovo: 'KEM', Yaroslavl: 'YAR', Jaroslavl: 'YAR', 'Udmurtiya Republic': 'UD',
    Udmurtia: 'UD', 'Khanty-Mansia': 'KHM', 'Khanty-Mansi': 'KHM', Tula: 'TUL', Ivanovo: 'IVA',
    Penza: 'PNZ', Vologda: 'VLG', Sakha: 'SA', Yakutia: 'SA', Kaluga: 'KLU', Voronezj: 'VOR',
    'Kabardino-Balkariya Republic': 'KB', 'Kabardino-Balkaria': 'KB', 'Yamalo-Nenets': 'YAN',
    'North Ossetia-Alania': 'SE', 'North Ossetia': 'SE', Kostroma: 'KOS', Oryol: 'ORL', Orel: 'ORL',
    Kamchatka: 'KAM', Karelia: 'KR', 'Karachayevo-Cherkesiya Republic': 'KC', 'Karachay-Cherkessia': 'KC',
    Chechnya: 'CE', Chukotka: 'CHU', Chuvashia: 'CU', 'Jewish Autonomous Oblast': 'YEV',
    'Transbaikal Territory': 'ZAB', 'Zabaykalsky Krai': 'ZAB', Bashkortostan: 'BA', Bashkiria: 'BA',
    Buryatia: 'BU', Khakassia: 'KK', Mordovia: 'MO', Adygea: 'AD', Kalmykia: 'KL', Ingushetia: 'IN',
    Tuva: 'TY', Nenets: 'NEN', 'Mari El': 'ME', Komi: 'KO', Dagestan: 'DA', Tatarstan: 'TA',
    Samara: 'SAM', Omsk: 'OMS', Tomsk: 'TOM', Kursk: 'KRS', Murmansk: 'MUR'
  },
  SA: {
    Riyadh: '01', Mecca: '02', Makkah: '02', Medina: '03', Madinah: '03', 'Eastern Province': '04',
    Qassim: '05', 'Al-Qassim': '05', Hail: '06', Tabuk: '07', 'Northern Borders': '08', Jazan: '09',
    Najran: '10', 'Al Bahah': '11', 'Al Jouf': '12', Asir: '14'
  },
  SC: { 'La Riviere Anglaise': '16', 'English River': '16' },
  SD: {
    Khartoum: 'KH', Northern: 'NO', 'White Nile': 'NW', 'Blue Nile': 'NB', 'North Kordofan': 'KN',
    'South Kordofan': 'KS', 'West Kordofan': 'GK', 'Red Sea': 'RS', 'River Nile': 'NR', 'Al Jazirah': 'GZ',
    Gezira: 'GZ', Gedaref: 'GD', Kassala: 'KA', Sennar: 'SI', 'North Darfur': 'DN', 'South Darfur': 'DS',
    'East Darfur': 'DE', 'West Darfur': 'DW', 'Central Darfur': 'DC'
  },
  SE: { Stockholm: 'AB', 'Vastra Gotaland': 'O', Skane: 'M', Scania: 'M' },
  SI: { 'Piran-Pirano': '090', 'Koper-Capodistria': '050', Ljubljana: '061' },
  SK: {
    Bratislava: 'BL', Kosice: 'KI', Trencin: 'TC', Presov: 'PV', 'Banska Bystrica': 'BC', Zilina: 'ZI',
    Nitra: 'NI', Trnava: 'TA'
  },
  SO: { 'Lower Shabeelle': 'SH', 'Middle Shabele': 'SD', Banadir: 'BN' },
  SY: {
    Damascus: 'DI', 'Rif Dimashq': 'RD', 'Damascus Countryside': 'RD', Homs: 'HI', Aleppo: 'HL',
    Latakia: 'LA', Hama: 'HM', Daraa: 'DR', Suwayda: 'SU', Tartus: 'TA', Idlib: 'ID', 'Deir ez-Zor': 'DY',
    Raqqa: 'RA', 'Al-Hasakah': 'HA', Quneitra: 'QU'
  },
  TD: { "N'Djamena": 'ND' },
  TH: { Bangkok: '10', Pattaya: 'S' },
  TJ: { 'Gorno-Badakhshan': 'GB' },
  TM: { Ashgabat: 'S' },
  TN: { Ariana: '12', Manouba: '14', Kef: '33' },
  TT: { Mayaro: 'MRC', 'Borough of Arima': 'ARI', 'Port of Spain': 'POS' },
  TW: {
    'Chiayi City': 'CYI', 'Chiayi County': 'CYQ', 'Hsinchu City': 'HSZ', 'Hsinchu County': 'HSQ',
    'Taipei City': 'TPE', 'New Taipei City': 'NWT'
  },
  TZ: {
    'Zanzibar Central/South': '11', 'Zanzibar South and Central': '11', 'Zanzibar Urban/West': '15',
    'Zanzibar Urban West': '15', 'Zanzibar North': '07', 'Pemba North': '06', 'Pemba South': '10'
  },
  UA: {
    'Kyiv City': '30', Kiev: '30', 'Kyiv Oblast': '32', Odesa: '51', Odessa: '51', Poltava: '53',
    Cherkasy: '71', Khmelnytskyi: '68', Khmelnytskyy: '68', Vinnytsia: '05', Vinnytsya: '05', Rivne: '56',
    Zaporizhzhia: '23', Zaporizhzhya: '23', Zaporizhia: '23', Chernivtsi: '77', Sumy: '59',
    Zakarpattia: '21', Transcarpathia: '21', Mykolayiv: '48', Mykolaiv: '48', 'Sebastopol City': '40',
    Sevastopol: '40', Crimea: '43', Lviv: '46', Kharkiv: '63', Dnipropetrovsk: '12', Donetsk: '14',
    Luhansk: '09', Zhytomyr: '18', Volyn: '07', 'Ivano-Frankivsk': '26', Ternopil: '61', Chernihiv: '74',
    Kherson: '65', Kirovohrad: '35'
  },
  UZ: {
    Tashkent: 'TK', 'Toshkent Shahri': 'TK', 'Tashkent Region': 'TO', Andijan: 'AN', Fergana: 'FA',
    Samarkand: 'SA', Bukhara: 'BU', Khorezm: 'XO', Karakalpakstan: 'QR', Kashkadarya: 'QA',
    Surkhandarya: 'SU', Syrdarya: 'SI', Jizzakh: 'JI', Navoiy: 'NW'
  },
  VE: { 'Distrito Federal': 'A', 'Capital District': 'A', 'La Guaira': 'X', Vargas: 'X' },
  VN: {
    Hanoi: 'HN', 'Da Nang': 'DN', 'Ho Chi Minh City': 'SG', Haiphong: 'HP', 'Hai Phong': 'HP', 'Can Tho': 'CT'
  },
  YE: { 'Amanat Alasimah': 'SA', Hadramaout: 'HD', Hadramawt: 'HD', Aden: 'AD', Omran: 'AM' },
  ZA: { 'Orange Free State': 'FS', 'North West': 'NW' }
}
