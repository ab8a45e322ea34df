#!/usr/bin/env python3
#
# src/mask_dictionaries.py
#	Generates src/mask_dictionaries.c, the dictionaries of the masking core.
#
# The lists below were composed by hand for penelope_sandbox: common given
# names and surnames of many origins (ASCII spellings, one word each, so a
# masked full name splits back into its parts), street names, and town names
# composed from English place-name parts.  They hold no personal data.  The
# C file is shipped; rerun this script after editing a list:
#
#	python3 src/mask_dictionaries.py > src/mask_dictionaries.c
#
# Each list is emitted sorted in C (strcmp) order with duplicates removed,
# and with a hash table for the recognisers (see mc_dict_hash() in
# mask_core.c, which dict_hash() below computes the same way).

import re
import sys

FIRST_NAMES = """
Aaron Abbey Abel Abigail Abraham Ada Adam Adaline Addison Adela Adelaide
Adele Adeline Aden Adrian Adriana Adrienne Agatha Agnes Ahmed Aidan Aiden
Aileen Aimee Ainsley Aisha Alan Alana Albert Alberta Alberto Alden Alec
Alejandro Alessandra Alex Alexa Alexander Alexandra Alexis Alfie Alfred
Alfredo Ali Alice Alicia Alina Alisha Alison Allan Allison Alma Alonso Alvin
Amanda Amara Amber Amelia Amelie Amir Amos Amy Ana Anastasia Anders Andre
Andrea Andreas Andrew Andy Angel Angela Angelica Angelina Angus Anika Anita
Ann Anna Annabel Annabelle Anne Annette Annie Anthony Anton Antonia Antonio
April Archer Archie Aria Ariana Ariel Arjun Arlo Armando Arnold Arthur
Arturo Asher Ashley Ashton Aspen Astrid Aubrey Audrey August Augusta Aurora
Austin Autumn Ava Avery Axel Ayla Bailey Barbara Barnaby Barry Basil
Beatrice Beatrix Beau Becky Belinda Bella Ben Benedict Benjamin Bennett
Bernadette Bernard Bernice Beth Bethany Betty Beverly Bianca Bill Billie
Blair Blake Bonnie Boris Brad Bradley Brady Brandon Brenda Brendan Brett
Brian Briana Bridget Brittany Brody Brooke Brooklyn Bruce Bruno Bryan Bryce
Bryony Byron Caleb Callum Calvin Camden Cameron Camila Camille Candice Cara
Carl Carla Carlos Carly Carmen Carol Caroline Carolyn Carson Carter Casey
Cassandra Cassidy Catherine Cecil Cecilia Cedric Celeste Celia Chad Chandler
Charles Charlie Charlotte Chase Chelsea Cheryl Chester Chloe Chris Christian
Christina Christine Christopher Ciara Cindy Claire Clara Clarence Claude
Claudia Clay Clayton Clement Cleo Clifford Clint Clinton Clive Cody Colby
Cole Colin Colleen Connor Conrad Constance Cooper Cora Corey Cornelius
Courtney Craig Cristina Cruz Crystal Curtis Cynthia Cyril Daisy Dakota Dale
Dallas Damian Damon Dana Daniel Daniela Danielle Danny Dante Daphne Darcy
Darius Darren Darryl Dave David Dawn Dean Deanna Debbie Deborah Declan
Deirdre Delia Denise Dennis Derek Desmond Destiny Devin Dexter Diana Diane
Diego Dina Dominic Dominique Donald Donna Donovan Dora Doreen Doris Dorothy
Douglas Drew Duncan Dustin Dylan Eamon Earl Easton Eddie Eden Edgar Edith
Edmund Eduardo Edward Edwin Eileen Elaine Eleanor Elena Eli Elias Elijah
Elise Eliza Elizabeth Ella Ellen Ellie Elliot Elliott Ellis Eloise Elsa
Elsie Elton Elvira Emanuel Emeline Emerson Emil Emilia Emiliano Emily Emma
Emmanuel Emmett Enrique Enzo Eric Erica Erik Erin Ernest Esme Esmeralda
Esperanza Estelle Esther Ethan Eugene Eva Evan Evangeline Eve Evelyn Everett
Ezra Fabian Faith Farah Fatima Faye Felicity Felix Fernando Finley Finn
Fiona Fletcher Flora Florence Floyd Forrest Frances Francesca Francis
Francisco Frank Franklin Fraser Freddie Frederick Freya Gabriel Gabriela
Gabrielle Gail Gareth Garrett Gary Gavin Gemma Gene Genevieve George Georgia
Gerald Geraldine Gerard Gertrude Gianna Gideon Gilbert Gillian Gina Giovanni
Giselle Gladys Glen Glenn Gloria Gordon Grace Gracie Graham Grant Grayson
Greg Gregory Greta Griffin Gustavo Guy Gwen Gwendolyn Hailey Hamish Hank
Hannah Harley Harold Harper Harriet Harrison Harry Harvey Hayden Hazel Heath
Heather Hector Heidi Helen Helena Henry Herbert Holly Hope Horace Howard
Hudson Hugh Hugo Hunter Ian Ida Ignacio Imogen Ingrid Irene Iris Isaac
Isabel Isabella Isabelle Isaiah Isla Ivan Ivy Jack Jackson Jacob Jacqueline
Jade Jaden Jaime James Jamie Jane Janet Janice Jared Jasmine Jason Jasper
Javier Jay Jayden Jean Jeanette Jeffrey Jenna Jennifer Jeremiah Jeremy
Jerome Jesse Jessica Jillian Jim Joan Joanna Joanne Jocelyn Joel Johanna
John Johnny Jonah Jonathan Jordan Jorge Jose Joseph Josephine Joshua Josiah
Joy Joyce Juan Judith Judy Julia Julian Juliana Julie Juliet Julius June
Justin Kai Kaitlyn Karen Karl Kate Katherine Kathleen Kathryn Katie Kayla
Keegan Keith Kelly Kelsey Kendall Kennedy Kenneth Kerry Kevin Kiara Kieran
Kimberly Kirk Kirsten Kristen Kyle Kylie Lachlan Lana Lance Landon Lara
Larry Laura Lauren Laurence Layla Leah Leanne Lee Leila Leo Leon Leonard
Leonardo Leslie Levi Lewis Lila Lillian Lily Lincoln Linda Lindsay Lionel
Lisa Logan Lois Lola London Lorenzo Loretta Lorraine Louis Louisa Louise
Lucas Lucia Lucille Lucy Luis Luke Luna Lydia Lyla Lynn Mabel Mackenzie
Madeline Madison Maggie Malcolm Mandy Marcel Marcia Marco Marcus Margaret
Margot Maria Mariah Marian Marie Marilyn Marina Mario Marion Marjorie Mark
Marley Marshall Martha Martin Marvin Mary Mason Mateo Matilda Matthew
Maureen Maurice Mavis Max Maxine Maxwell Maya Megan Melanie Melissa Melody
Melvin Meredith Mia Michael Michaela Michelle Miguel Mila Miles Millie Milo
Miranda Miriam Mitchell Molly Monica Morgan Muriel Murray Myles Nadia Naomi
Natalie Natasha Nathan Nathaniel Neil Nell Nelson Nicholas Nicola Nicole
Nigel Nina Noah Noel Nora Norah Norman Oakley Octavia Olive Oliver Olivia
Omar Orla Oscar Owen Paige Pamela Parker Patricia Patrick Paul Paula Pauline
Pearl Pedro Penelope Percy Peter Peyton Philip Phoebe Phyllis Piper Polly
Preston Priscilla Quentin Quinn Rachel Rafael Ralph Ramona Randall Raymond
Rebecca Reece Reese Regina Reginald Reid Rhiannon Rhys Ricardo Richard Riley
River Robert Roberta Robin Rocco Roderick Rodney Roger Roland Roman Ronald
Rory Rosa Rosalie Rose Rosemary Ross Rowan Roxanne Ruby Rudy Rufus Rupert
Russell Ruth Ryan Sabrina Sadie Sally Salvador Samantha Samuel Sandra Sara
Sarah Sasha Saul Savannah Sawyer Scarlett Scott Sean Sebastian Selena Serena
Seth Shane Shannon Sharon Shawn Sheila Shelby Sherry Shirley Sidney Sienna
Silas Simon Simone Sofia Sophia Sophie Spencer Stacy Stanley Stella
Stephanie Stephen Steven Stuart Sue Summer Susan Sutton Sybil Sylvia Tabitha
Talia Tamara Tania Tanner Tara Tatiana Taylor Teresa Terrence Tess Tessa
Thea Theo Theodore Theresa Thomas Tiffany Timothy Tina Tobias Toby Todd Tom
Tommy Tony Tracy Travis Trent Trevor Tristan Troy Tucker Tyler Ursula
Valentina Valerie Vanessa Vaughn Vera Veronica Victor Victoria Vincent Viola
Violet Virginia Vivian Wade Walker Wallace Walter Wanda Warren Wayne Wendy
Wesley Weston Whitney Wilbur Wilfred Will Willa William Willow Wilson
Winifred Winston Wyatt Xander Xavier Yolanda Yvette Yvonne Zachary Zane Zara
Zelda Zoe Aarav Abhishek Aditi Aditya Akash Amit Ananya Anil Anjali Ankit
Arnav Ashok Deepak Devika Divya Gaurav Ishaan Kavya Lakshmi Manish Meera
Neha Nikhil Pooja Pradeep Priya Rahul Rajesh Ravi Rohan Sanjay Sunita Suresh
Vijay Vikram Vivek Ahmad Amina Farid Hassan Hussein Ibrahim Karim Khalid
Layla Mariam Mustafa Nadia Rania Samir Tariq Yasmin Yusuf Zainab Zayd Bilal
Hamza Imran Nasser Omar Reem Salma Akira Haruto Hiroshi Kenji Kaito Mei
Sakura Takumi Yuki Yuna Hana Ren Sora Riku Aiko Emi Kazuki Naoki Shota Yumi
Chen Jian Jun Li Lin Ming Wei Xin Yan Yong Hui Jing Qiang Lei Tao Bo Fang
Ling Ping Xiu Ji-woo Seo-yeon Min-jun Hyun Jisoo Minho Sungmin Yuna Adebayo
Amara Chidi Chinedu Chioma Emeka Folake Ifeoma Kwame Kofi Ngozi Obinna
Olumide Sipho Thabo Themba Zanele Ayodele Babajide Nkechi Aleksander Alexei
Anatoly Bogdan Dmitri Galina Igor Ivana Katarina Ludmila Milos Mikhail
Natalia Oksana Pavel Radek Sergei Stanislav Svetlana Tatiana Vladimir Yelena
Zoran Marek Tomasz Piotr Agnieszka Magdalena Krzysztof Jakub Zofia Anders
Astrid Birgit Bjorn Dag Erik Freja Gunnar Hakon Ingrid Johan Karin Lars Leif
Linnea Magnus Nils Olav Sigrid Solveig Sven Tove Ulf Vidar Alessandro Bianca
Chiara Emanuele Federico Francesca Giacomo Giulia Lorenzo Luca Marco Matteo
Paolo Riccardo Stefano Valentina Vittoria Alessio Davide Simona Alejandra
Alvaro Beatriz Carmen Consuelo Dolores Esteban Guadalupe Ignacio Inés Jimena
Joaquin Lucia Manuel Mercedes Nicolas Pilar Ramon Rocio Santiago Sergio
Teodoro Ximena Valeria Camilo Rodrigo Hernan Mateus Thiago Joao Gabriela
Leticia Amelie Antoine Aurelie Bastien Benoit Camille Celine Chantal Didier
Elodie Etienne Fabrice Francois Gaston Genevieve Helene Jacques Julien
Laurent Lucien Manon Marcel Mathieu Mireille Nathalie Olivier Pascal
Philippe Remi Sandrine Sylvain Thierry Yannick Yves Zoe Anke Bernd Dieter
Frieda Gerhard Gisela Hanna Heinz Helga Jurgen Klaus Lukas Matthias Monika
Otto Rainer Sabine Stefan Ulrike Uwe Werner Wolfgang Aoife Brendan Caoimhe
Ciaran Cormac Dermot Eoin Fergus Grainne Niamh Oisin Padraig Roisin Seamus
Siobhan Sinead Tadhg Aisling Bronagh Ronan Anwen Bryn Carys Dafydd Eirlys
Gethin Ioan Llewellyn Megan Rhodri Sian Tegan Ailsa Alasdair Catriona Eilidh
Euan Fergus Iona Kirsty Mhairi Morag Murdo Rona Aroha Ataahua Hemi Manaia
Nikau Rawiri Tane Wiremu Kiri Mere Anahera Keanu Leilani Makoa Noelani
Kalani Mahina Ashanti Jamal Latoya Malik Shanice Tyrone Deshawn Keisha
Marquis Tamika
"""

LAST_NAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin
Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans
Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy
Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard
Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray
Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes
Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells
Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson
Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks
Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren
Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver
Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez
Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong
Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman
Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval
Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler
Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson
Austin Dominguez Carr Lawson Jacobs Obrien Lynch Singh Vega Bishop
Montgomery Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell
Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas
Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz
Luna Fowler Mejia Davidson Acosta Brewer May Holland Juarez Newman Pearson
Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila
Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck
Lambert Miranda Byrd Craig Ayala Lowe Frazier Powers Neal Leonard Gregory
Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings Watts Duran
Walters Cohen McDaniel Moran Parks Steele Vaughn Becker Holt Deleon Barker
Terry Hale Leon Hail Benson Haynes Horton Miles Lyons Pham Graves Bush
Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher
Page McCarthy Love Robles Cervantes Solis Erickson Reeves Chang Klein
Salinas Fuentes Baldwin Daniel Simon Velasquez Hardy Higgins Aguirre Lin
Cummings Chandler Sharp Barber Bowen Ochoa Dennis Robbins Liu Ramsey Francis
Griffith Paul Blair Oconnor Cardenas Pacheco Cross Calderon Quinn Moss
Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson
Christensen Manning Gill Curry McLaughlin Harmon McGee Gross Doyle Garner
Newton Burgess Reese Walton Blake Trujillo Adkins Brady Goodman Roman
Webster Goodwin Fischer Huang Potter Delacruz Montoya Todd Wu Hines Mullins
Castaneda Malone Cannon Tate Mack Sherman Hubbard Hodges Zhang Guerra Wolf
Valencia Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend
Ingram Wise Gallegos Clarke Barton Schroeder Maxwell Waters Logan Camacho
Strickland Norman Person Colon Parsons Frank Harrington Glover Osborne
Buchanan Casey Floyd Patton Ibarra Ball Tyler Suarez Bowers Orozco Salas
Cobb Gibbs Andrade Bauer Conner Moody Escobar McGuire Lloyd Mueller Hartman
French Kramer McBride Pope Lindsey Velazquez Norton McCormick Sparks Flynn
Yates Hogan Marsh Macias Villanueva Zamora Pratt Stokes Owen Ballard Lang
Brock Villarreal Charles Drake Barrera Cain Patrick Pineda Burnett Mercado
Santana Shepherd Bautista Ali Shaffer Lamb Trevino McKenzie Hess Beil Olsen
Cochran Morton Nash Wilkins Petersen Briggs Shah Roth Nicholson Holloway
Lozano Rangel Flowers Hoover Short Arias Mora Valenzuela Bryan Meyers Weiss
Underwood Bass Greer Summers Houston Carson Morrow Clayton Whitaker Decker
Yoder Collier Zuniga Carey Wilcox Melendez Poole Roberson Larsen Conley
Davenport Copeland Massey Lam Huff Rocha Cameron Jefferson Hood Monroe
Anthony Pittman Huynh Randall Singleton Kirk Combs Mathis Christian Skinner
Bradford Richard Galvan Wall Boone Kirby Wilkinson Bridges Bruce Atkinson
Velez Meza Roy Vincent York Hodge Villa Abbott Allison Tapia Gates Chase
Sosa Sweeney Farrell Wyatt Dalton Horn Barron Phelps Yu Dickerson Heath
Foley Atkins Mathews Bonilla Acevedo Benitez Zavala Hensley Glenn Cisneros
Harrell Shields Rubio Choi Huffman Boyer Garrison Arroyo Bond Kane Hancock
Callahan Dillon Cline Wiggins Grimes Arellano Melton Oneill Savage Ho
Beltran Pitts Parrish Ponce Rich Booth Koch Golden Ware Brennan McDowell
Marks Cantu Humphrey Baxter Sawyer Clay Tanner Hutchinson Kaur Berg Wiley
Gilmore Russo Villegas Hobbs Keith Wilkerson Ahmed Beard McClain Montes Mata
Rosario Vang Walter Henson Oneal Mosley McClure Beasley Stephenson Snow
Huerta Preston Vance Barry Johns Eaton Blackwell Dyer Prince Macdonald
Solomon Guevara Stafford English Hurst Woodard Cortes Shannon Kemp Nolan
McCullough Merritt Murillo Moon Salgado Strong Kline Cordova Barajas Roach
Rosas Winters Jacobson Lester Knox Bullock Kerr Leach Meadows Orr Davila
Whitehead Pruitt Kent Conway McKee Barr David Dejesus Marin Berger McIntyre
Blankenship Gaines Palacios Cuevas Bartlett Durham Dorsey McCall Odonnell
Stein Browning Stout Lowery Sloan McLean Hendricks Calhoun Sexton Chung
Gentry Hull Duarte Ellison Nielsen Gillespie Buck Middleton Sellers Leblanc
Esparza Hardin Bradshaw McIntosh Howe Livingston Frost Glass Morse Knapp
Herman Stark Bravo Noble Spears Weeks Corona Frederick Buckley McFarland
Hebert Enriquez Hickman Quintero Randolph Schaefer Walls Trejo House Reilly
Pennington Michael Conrad Giles Benjamin Crosby Fitzpatrick Donovan Mays
Mahoney Valentine Raymond Medrano Hahn McMillan Small Bentley Felix Peck
Lucero Boyle Hanna Pace Rush Hurley Harding McConnell Bernal Nava Ayers
Everett Ventura Avery Pugh Mayer Bender Shepard McMahon Landry Case Sampson
Moses Magana Blackburn Dunlap Gould Duffy Vaughan Herring McKay Espinosa
Rivers Farley Bernard Ashley Friedman Potts Truong Costa Correa Blevins
Nixon Clements Fry Delarosa Best Benton Lugo Portillo Dougherty Crane Haley
Phan Villalobos Blanchard Horne Finley Quintana Lynn Esquivel Bean Dodson
Mullen Xiong Hayden Cano Levy Huber Richmond Moyer Lim Frye Sheppard McCarty
Avalos Booker Waller Parra Woodward Jaramillo Krueger Rasmussen Brandt
Peralta Donaldson Stuart Faulkner Maynard Galindo Coffey Estes Sanford Burch
Maddox Vo Oconnell Vu Andersen Spence McPherson Church Schmitt Stanton Leal
Cherry Compton Dudley Sierra Pollard Alfaro Hester Proctor Lu Hinton Novak
Good Madden McCann Terrell Jarvis Dickson Reyna Cantrell Mayo Branch Hendrix
Rollins Rowland Whitney Duke Odom Daugherty Travis Tang Archer Okafor
Adeyemi Mensah Osei Nkosi Dlamini Mokoena Okonkwo Eze Balogun Abubakar Kamau
Otieno Wanjiru Mwangi Achieng Boateng Asante Owusu Chukwu Tanaka Suzuki
Watanabe Takahashi Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada
Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Mori Ikeda Kowalski
Nowak Wisniewski Wojcik Kaminski Lewandowski Zielinski Szymanski Kozlowski
Jankowski Ivanov Petrov Sokolov Popov Lebedev Kozlov Novikov Morozov Volkov
Pavlov Horvat Kovac Novotny Dvorak Svoboda Rossi Russo Ferrari Esposito
Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti DeLuca Mancini
Costa Giordano Rizzo Lombardi Moretti Muller Schmid Schneider Fischer Meyer
Weber Schulz Wagner Becker Hoffmann Koch Bauer Richter Wolf Schroder Neumann
Schwarz Zimmermann Braun Kruger Hofmann Hartmann Lange Werner Krause Lehmann
Kohler Herrmann Konig Walter Dubois Durand Lefebvre Leroy Moreau Laurent
Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefevre Faure
Andre Mercier Blanc Guerin Boyer Garnier Chevalier Francois Legrand Gauthier
Perrin Robin Clement Morin Andersson Johansson Karlsson Nilsson Eriksson
Larsson Olsson Persson Svensson Gustafsson Pettersson Jonsson Hansen
Johansen Pedersen Kristiansen Jensen Nielsen Rasmussen Sorensen Virtanen
Korhonen Nieminen Makinen Hamalainen Murphy Kelly OSullivan Walsh Byrne Ryan
OConnor Doyle McCarthy Gallagher Doherty Kennedy Lynch Murray Quinn Moore
McLoughlin Carroll Connolly Daly Brennan Burke Collins Campbell Clarke
Johnston Hughes Farrell Fitzgerald Brown Martin Maguire Nolan Flynn Thompson
Callaghan Oneill Duffy Sheehan Sharma Verma Gupta Kumar Reddy Rao Iyer Nair
Menon Pillai Joshi Desai Mehta Shah Chopra Kapoor Malhotra Bhatia Saxena
Agarwal Banerjee Chatterjee Mukherjee Das Bose Sen Ghosh Dutta Wang Li Zhang
Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Zheng
Liang Xie Song Tang Han Feng Deng Cao Peng Kim Lee Park Choi Jung Kang Cho
Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn Song Yoo Hong Nguyen Tran Le
Pham Hoang Phan Vu Vo Dang Bui Do Ho Ngo Duong Ly Haddad Khoury Nasser
Mansour Saleh Hakim Farah Aziz Rahman Hussain Karimi Hosseini Rahimi Ahmadi
Mohammadi Yilmaz Kaya Demir Sahin Celik Yildiz Ozturk Aydin Arslan Dogan
Silva Santos Oliveira Souza Pereira Costa Carvalho Almeida Ferreira Ribeiro
Gomes Martins Rocha Barbosa Araujo Cardoso Teixeira Correia Mendes Nunes
Papadopoulos Georgiou Nikolaidis Pappas Vlahos Karagiannis Dimitriou
Christodoulou Tupou Fonua Taufa Faleolo Leota Tuilagi Ngata Parata Tamihana
Walker
"""

STREET_NAMES = """
Acacia Alder Almond Amber Anchor Apple Arbor Ash Aspen Aster Autumn Azalea
Balsam Bamboo Banksia Barley Bay Bayview Beach Beacon Beech Bellbird Birch
Blackwood Bluebell Bluegum Bottlebrush Boronia Bracken Bramble Briar Bridge
Bristol Brook Buckingham Bunya Cambridge Camellia Canal Canterbury Cardinal
Carnation Castle Cedar Chapel Cherry Chestnut Church Clover Coral Cornflower
Cottonwood Creek Crocus Cypress Daffodil Dahlia Daisy Dale Dawn Dogwood Dove
Dune Eagle Elder Elm Ember Eucalyptus Evergreen Fairway Falcon Fern Fig
Finch Fir Forest Fountain Fox Foxglove Garden Gardenia Glen Golden Grange
Granite Grevillea Hawthorn Hazel Heath Heather Heron Hibiscus Hickory
Highland Hillcrest Holly Honeysuckle Hope Iris Ironbark Ivy Jacaranda
Jasmine Juniper Kestrel Kingfisher Lagoon Lakeview Larch Laurel Lavender
Lilac Lily Lime Linden Lotus Lyrebird Magnolia Magpie Mahogany Mallee Manor
Maple Marigold Market Meadow Mill Mimosa Mistletoe Moss Myrtle Nutmeg Oak
Ocean Olive Orchard Orchid Osprey Otter Palm Park Peach Pear Pebble Pelican
Peony Pepper Pine Plane Plum Poplar Poppy Primrose Quail Quarry Quince
Railway Raven Redwood Reed Ridge River Robin Rose Rosemary Rowan Saffron
Sage Sandalwood Sandpiper Sassafras School Seaview Sequoia Shore Silver
Sparrow Spring Spruce Station Stone Summit Sunflower Sunset Swallow Swan
Sycamore Tamarind Teak Thistle Thornbury Tulip Valley Violet Walnut Waratah
Warbler Waterfall Wattle Wharf Willow Windmill Wisteria Wren Yarrow Yew
Albion Ashby Avon Belmont Berkeley Brighton Carlton Chelsea Clarence Clifton
Denison Dorset Durham Edinburgh Elizabeth Essex Exeter Fitzroy Gladstone
Gordon Grafton Hamilton Hanover Kensington Kent Lancaster Lincoln
Livingstone Macquarie Marlborough Melville Milton Nelson Newcastle Norfolk
Oxford Palmerston Pembroke Princes Queens Regent Richmond Rutland Salisbury
Somerset Stanley Sussex Trafalgar Victoria Warwick Waterloo Wellington
Westminster Windsor York Abbott Ainsworth Barrington Blackburn Bradford
Burnside Carrington Chatsworth Clayton Cromwell Darlington Eastwood
Ellesmere Fairfax Fleetwood Glenroy Hartley Hawkesbury Holloway Huntingdon
Kingsley Langley Lockwood Marsden Montague Norwood Pemberton Prescott
Radcliffe Redfern Rochester Sherwood Stratford Thornton Whitfield Woodstock
"""

STREET_TYPES = """
Avenue Boulevard Circuit Close Court Crescent Drive Grove Lane Parade Place
Road Street Terrace Way
"""

CITY_PREFIXES = """
Ash Birch Black Bright Brook Cedar Clear Cold Crystal Deer Eagle East Elm
Fair Fern Fox Glen Gold Green Hazel High Iron King Lake Lark Maple Marsh
Meadow Mill North Oak Pine Red River Rock Rose Silver South Spring Stone Sun
Thorn West White Wild Willow Wolf
"""

CITY_SUFFIXES = """
bridge brook bury by dale field ford gate grove ham haven hill hurst lake
land leigh mead mont more port ridge stead ton vale view ville water well
wick wood worth
"""

TEXT_WORDS = """
a ac accumsan adipiscing aenean aliquam aliquet amet ante arcu at auctor
augue bibendum blandit commodo condimentum congue consectetur consequat
convallis cras curabitur cursus dapibus diam dictum dignissim dolor donec
dui duis egestas eget eleifend elementum elit enim erat eros est et etiam eu
euismod facilisis fames faucibus felis fermentum feugiat fringilla fusce
gravida habitant hendrerit iaculis id imperdiet in integer interdum ipsum
justo lacinia lacus laoreet lectus leo libero ligula lobortis lorem luctus
maecenas magna malesuada massa mattis mauris metus mi molestie mollis morbi
nam nec neque netus nibh nisi nisl non nulla nullam nunc odio orci ornare
pellentesque pharetra phasellus placerat porta porttitor posuere praesent
pretium proin pulvinar purus quam quis quisque rhoncus risus rutrum sagittis
sapien scelerisque sed sem semper senectus sit sodales sollicitudin suscipit
suspendisse tellus tempor tempus tincidunt tortor tristique turpis
ullamcorper ultrices ultricies urna ut varius vehicula vel velit venenatis
vestibulum vitae vivamus viverra volutpat vulputate
"""


# Latin words that are also English (or common) words are left out, so a
# masked note never repeats a word of the original.
NOT_TEXT_WORDS = set("a ac ante at dolor est et id in leo magna mi non sit vitae".split())


def words(block):
    out = set()
    for w in block.split():
        if re.fullmatch(r"[A-Za-z]+", w):
            out.add(w)
    return sorted(out, key=lambda s: s.encode("ascii"))


MASK64 = (1 << 64) - 1


def word_key(w):
    """The word zero-padded to 16 bytes, as two little-endian 64-bit words."""
    b = w.encode("ascii").ljust(16, b"\0")
    return int.from_bytes(b[:8], "little"), int.from_bytes(b[8:], "little")


def dict_hash(w):
    """mc_dict_hash() of mask_core.c."""
    lo, hi = word_key(w)
    h = (lo * 0x9E3779B97F4A7C15 + hi * 0xC2B2AE3D27D4EB4F) & MASK64
    return h ^ (h >> 29)


def print_list(fmt, items):
    line = "\t"
    for it in items:
        piece = fmt % it
        if len(line) + len(piece) > 76:
            print(line.rstrip())
            line = "\t"
        line += piece
    print(line.rstrip())


def emit(name, items, minimum):
    if len(items) < minimum:
        sys.exit("%s has %d entries, fewer than %d" % (name, len(items), minimum))
    if max(len(w) for w in items) > 15:
        sys.exit("%s has an entry longer than 15 characters" % name)
    print("const char *const mc_%s[] = {" % name)
    print_list('"%s", ', items)
    print("};")
    print("const size_t mc_n_%s = sizeof(mc_%s) / sizeof(mc_%s[0]);" % (name, name, name))
    print()

    # the recognisers' hash table: open addressing, linear probing
    nslots = 1
    while nslots < 2 * len(items):
        nslots *= 2
    slots = [0] * nslots
    for i, w in enumerate(items):
        j = dict_hash(w) & (nslots - 1)
        while slots[j]:
            j = (j + 1) & (nslots - 1)
        slots[j] = i + 1
    print("const uint16_t mc_%s_slots[] = {" % name)
    print_list("%d, ", slots)
    print("};")
    print("const size_t mc_n_%s_slots = sizeof(mc_%s_slots) / sizeof(mc_%s_slots[0]);"
          % (name, name, name))
    print()


TEXT_INDEX_BITS = 10


def text_seed(n):
    """The n-th candidate seed of the text words' perfect hash."""
    return (n * 0x9E3779B97F4A7C15) & MASK64


def text_slot(lo, hi, seed):
    """mc_text_slot() of mask_core.c."""
    x = (((lo ^ seed) * 0xD6E8FEB86659FD93) + hi) & MASK64
    return ((x * 0x9E3779B97F4A7C15) & MASK64) >> (64 - TEXT_INDEX_BITS)


def emit_text_keys(items):
    # a perfect hash of the text words: the first seed with no collision
    keys = [word_key(w) for w in items]
    n = 1
    while len({text_slot(lo, hi, text_seed(n)) for lo, hi in keys}) != len(keys):
        n += 1
    seed = text_seed(n)
    index = [0] * (1 << TEXT_INDEX_BITS)
    for i, (lo, hi) in enumerate(keys):
        index[text_slot(lo, hi, seed)] = i + 1
    print("const uint64_t mc_text_word_seed = UINT64_C(0x%016x);" % seed)
    print("const uint8_t mc_text_word_index[%d] = {" % (1 << TEXT_INDEX_BITS))
    print_list("%d, ", index)
    print("};")
    print("const uint64_t mc_text_word_keys[][2] = {")
    for w in items:
        lo, hi = word_key(w)
        print("\t{UINT64_C(0x%016x), UINT64_C(0x%016x)},\t/* %s */" % (lo, hi, w))
    print("};")
    print("const uint8_t mc_text_word_lens[] = {")
    print_list("%d, ", [len(w) for w in items])
    print("};")


print("""/*-------------------------------------------------------------------------
 *
 * mask_dictionaries.c
 *		Dictionaries of the masking core: names, streets, towns, words.
 *
 * GENERATED by src/mask_dictionaries.py; edit the lists there and rerun
 * it.  Every list is sorted in strcmp() order without duplicates, and has
 * a hash table (mc_*_slots) in which the recognisers look words up.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/mask_dictionaries.c
 *
 *-------------------------------------------------------------------------
 */
#include "mask_core.h"
""")

cities = words(" ".join(p + s for p in CITY_PREFIXES.split() for s in CITY_SUFFIXES.split()))

emit("first_names", words(FIRST_NAMES), 1000)
emit("last_names", words(LAST_NAMES), 1000)
emit("street_names", words(STREET_NAMES), 200)
emit("street_types", words(STREET_TYPES), 10)
emit("cities", cities, 500)
text_words = [w for w in words(TEXT_WORDS) if w not in NOT_TEXT_WORDS]
emit("text_words", text_words, 100)
emit_text_keys(text_words)
